package netcheck

import (
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
)

func TestInetSocketsSeesOwnListener(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	has := func(port string) bool {
		socks, err := InetSockets(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range socks {
			if strings.HasSuffix(s.Local, ":"+port) && s.Proto == "tcp" {
				return true
			}
		}
		return false
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	if !has(port) {
		t.Fatalf("listener on %s not found", ln.Addr())
	}
	ln.Close()
	if has(port) {
		t.Fatalf("closed listener on %s still found", ln.Addr())
	}
}

func TestInetSocketsIgnoresUnixSockets(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	before, err := InetSockets(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", t.TempDir()+"/s")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	after, err := InetSockets(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("a unix socket counted as network: %v", after)
	}
}

func TestAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:1F90":                         "127.0.0.1:8080",
		"00000000000000000000000001000000:0050": "[::1]:80",
		"junk":                                  "junk",
		"ZZ:1":                                  "ZZ:1",
	} {
		if got := addr(in); got != want {
			t.Errorf("addr(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMissingProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	if _, err := InetSockets(-1); err == nil {
		t.Error("no error for a missing process")
	}
}
