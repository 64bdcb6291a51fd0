// Package netcheck lists the network sockets a process holds, so an
// end-to-end test can prove that a natter chat session never touches the
// network (start it, use it, then call InetSockets with its pid).
// Linux only: it reads /proc.
package netcheck

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// Socket is one TCP or UDP socket (IPv4 or IPv6) a process has open.
type Socket struct {
	Proto  string // tcp, tcp6, udp, udp6
	Local  string // host:port
	Remote string // host:port; 0.0.0.0:0 for a listener or unconnected UDP
	State  string // TCP state as hex from /proc (01 established, 0A listen)
}

func (s Socket) String() string {
	return fmt.Sprintf("%s %s -> %s (state %s)", s.Proto, s.Local, s.Remote, s.State)
}

// InetSockets returns the TCP/UDP sockets held by process pid. Unix-domain
// sockets and pipes are not network use and are not listed.
func InetSockets(pid int) ([]Socket, error) {
	if runtime.GOOS != "linux" {
		return nil, errors.New("netcheck: needs Linux /proc")
	}
	proc := filepath.Join("/proc", strconv.Itoa(pid))
	inodes, err := socketInodes(filepath.Join(proc, "fd"))
	if err != nil {
		return nil, err
	}
	if len(inodes) == 0 {
		return nil, nil
	}
	var out []Socket
	for _, proto := range []string{"tcp", "tcp6", "udp", "udp6"} {
		socks, err := readTable(filepath.Join(proc, "net", proto), proto)
		if errors.Is(err, os.ErrNotExist) {
			continue // e.g. no IPv6
		}
		if err != nil {
			return nil, err
		}
		for inode, s := range socks {
			if inodes[inode] {
				out = append(out, s)
			}
		}
	}
	return out, nil
}

// socketInodes collects the inode of every "socket:[N]" descriptor.
func socketInodes(fdDir string) (map[string]bool, error) {
	ents, err := os.ReadDir(fdDir)
	if err != nil {
		return nil, fmt.Errorf("netcheck: %w", err)
	}
	inodes := map[string]bool{}
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join(fdDir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if n, ok := strings.CutPrefix(target, "socket:["); ok {
			inodes[strings.TrimSuffix(n, "]")] = true
		}
	}
	return inodes, nil
}

// readTable parses /proc/PID/net/{tcp,udp}[6] into sockets by inode.
func readTable(path, proto string) (map[string]Socket, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]Socket{}
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		out[fields[9]] = Socket{Proto: proto, Local: addr(fields[1]), Remote: addr(fields[2]), State: fields[3]}
	}
	return out, sc.Err()
}

// addr decodes /proc's "0100007F:1F90" (little-endian words) to "127.0.0.1:8080".
func addr(s string) string {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return s
	}
	b, err := hex.DecodeString(h)
	port, perr := strconv.ParseUint(p, 16, 16)
	if err != nil || perr != nil || (len(b) != 4 && len(b) != 16) {
		return s
	}
	for i := 0; i+4 <= len(b); i += 4 { // each 32-bit word is host-order
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	return net.JoinHostPort(net.IP(b).String(), strconv.FormatUint(port, 10))
}
