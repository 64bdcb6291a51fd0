package config

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// MCPServer is one [mcp.NAME] table: a local MCP server whose tools the
// model may call, started as Command with Env added to natter's
// environment, in Dir.
type MCPServer struct {
	Name    string
	Command []string // program and arguments; never empty after Load
	Env     []string // KEY=value, in file order
	Dir     string
	// URL is a streamable-HTTP server's endpoint, instead of Command.
	URL  string
	Line int // where its table starts
}

// mcpFields are the keys an mcp table may hold.
var mcpFields = []string{"command", "env", "dir", "url"}

// MCPServers lists the file's MCP servers in the order they appear.
func (c *Config) MCPServers() []MCPServer {
	if c == nil {
		return nil
	}
	out := make([]MCPServer, 0, len(c.mcp))
	for _, s := range c.mcp {
		v := *s
		v.Command = append([]string(nil), s.Command...)
		v.Env = append([]string(nil), s.Env...)
		out = append(out, v)
	}
	return out
}

func (c *Config) mcpServer(name string, line int) *MCPServer {
	for _, s := range c.mcp {
		if s.Name == name {
			return s
		}
	}
	s := &MCPServer{Name: name, Line: line}
	c.mcp = append(c.mcp, s)
	return s
}

// mcpTable handles [mcp.NAME] and [mcp.NAME.env]. Names follow the
// endpoint rules: they may prefix tool names, which allow no more.
func (w *walker) mcpTable(first *unstable.Node, parts []string) ([]string, *FileError) {
	name := strings.Join(parts, ".")
	if len(parts) > 3 || len(parts) == 3 && parts[2] != "env" {
		return nil, w.errAt(first, name, "an MCP server is a table [mcp.NAME] (with env in [mcp.NAME.env])")
	}
	if !validEndpointName(parts[1]) {
		return nil, w.errAt(first, name, "MCP server names use letters, digits, - and _ only")
	}
	line, _ := w.nodePos(first)
	w.cfg.mcpServer(parts[1], line)
	return parts, nil
}

// mcpValue handles a key inside an mcp table: mcp.NAME.FIELD, or
// mcp.NAME.env.KEY.
func (w *walker) mcpValue(parts []string, val, first *unstable.Node) *FileError {
	name := strings.Join(parts, ".")
	switch {
	case len(parts) == 1:
		return w.errAt(first, name, "want tables [mcp.NAME], got %s", kindName(val.Kind))
	case len(parts) == 2:
		if val.Kind != unstable.InlineTable {
			return w.errAt(first, name, "want a table (command, env, dir), got %s", kindName(val.Kind))
		}
		if !validEndpointName(parts[1]) {
			return w.errAt(first, name, "MCP server names use letters, digits, - and _ only")
		}
		line, _ := w.nodePos(first)
		w.cfg.mcpServer(parts[1], line)
		return w.inline(parts, val)
	case len(parts) == 4 && parts[2] == "env":
		return w.mcpEnv(parts, val, first)
	case len(parts) > 3:
		return w.unknown(first, "key", name, "")
	}
	line, _ := w.nodePos(first)
	s := w.cfg.mcpServer(parts[1], line)
	if prev, dup := w.seen[name]; dup {
		return w.errAt(first, name, "set twice (first on line %d)", prev)
	}
	w.seen[name] = line
	switch parts[2] {
	case "command":
		if val.Kind != unstable.Array {
			return w.errAt(first, name, `want an array of strings such as ["npx", "-y", "server"], got %s`, kindName(val.Kind))
		}
		it := val.Children()
		for it.Next() {
			n := it.Node()
			if n.Kind == unstable.Comment {
				continue
			}
			if n.Kind != unstable.String {
				return w.errAt(first, name, "item %d: want a string, got %s", len(s.Command)+1, kindName(n.Kind))
			}
			s.Command = append(s.Command, string(n.Data))
		}
		if len(s.Command) == 0 || s.Command[0] == "" {
			return w.errAt(first, name, "want the program to run first, got an empty one")
		}
	case "env":
		if val.Kind != unstable.InlineTable {
			return w.errAt(first, name, `want a table such as {KEY = "value"}, got %s`, kindName(val.Kind))
		}
		return w.inline(parts, val)
	case "dir":
		if val.Kind != unstable.String {
			return w.errAt(first, name, "want a string, got %s", kindName(val.Kind))
		}
		s.Dir = string(val.Data)
	case "url":
		if val.Kind != unstable.String {
			return w.errAt(first, name, "want a string, got %s", kindName(val.Kind))
		}
		u := string(val.Data)
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return w.errAt(first, name, "want an http:// or https:// URL, got %q", u)
		}
		s.URL = u
	default:
		field := parts[2]
		best, bestD := "", -1
		for _, f := range mcpFields {
			if d := distance(field, f); bestD < 0 || d < bestD {
				best, bestD = f, d
			}
		}
		return w.unknown(first, "key", name, hint(best, bestD, field)+" (an MCP server has "+strings.Join(mcpFields, ", ")+")")
	}
	return nil
}

// mcpEnv handles one mcp.NAME.env.KEY.
func (w *walker) mcpEnv(parts []string, val, first *unstable.Node) *FileError {
	name := strings.Join(parts, ".")
	line, _ := w.nodePos(first)
	s := w.cfg.mcpServer(parts[1], line)
	if prev, dup := w.seen[name]; dup {
		return w.errAt(first, name, "set twice (first on line %d)", prev)
	}
	w.seen[name] = line
	key := parts[3]
	if key == "" || strings.ContainsAny(key, "=\x00") {
		return w.errAt(first, name, "not a usable variable name")
	}
	if val.Kind != unstable.String {
		return w.errAt(first, name, "want a string, got %s", kindName(val.Kind))
	}
	s.Env = append(s.Env, key+"="+string(val.Data))
	return nil
}

// inline walks an inline table's keys as if written out under prefix.
func (w *walker) inline(prefix []string, val *unstable.Node) *FileError {
	it := val.Children()
	for it.Next() {
		if n := it.Node(); n.Kind == unstable.KeyValue {
			if err := w.keyValue(prefix, n); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkMCP runs after the whole file: every server needs a command.
func (c *Config) checkMCP() *FileError {
	for _, s := range c.mcp {
		switch {
		case len(s.Command) == 0 && s.URL == "":
			return &FileError{Line: s.Line, Key: "mcp." + s.Name, Msg: `an MCP server needs a command, such as command = ["npx", "-y", "server"], or a url`}
		case len(s.Command) > 0 && s.URL != "":
			return &FileError{Line: s.Line, Key: "mcp." + s.Name, Msg: "an MCP server has a command (stdio) or a url (streamable HTTP), not both"}
		}
	}
	return nil
}

// mcpText writes the MCP servers back as TOML Load reads to the same.
func mcpText(b *strings.Builder, servers []*MCPServer) {
	for _, s := range servers {
		fmt.Fprintf(b, "\n[mcp.%s]\n", s.Name)
		if s.URL != "" {
			fmt.Fprintf(b, "url = %s\n", strconv.Quote(s.URL))
		} else {
			q := make([]string, len(s.Command))
			for i, a := range s.Command {
				q[i] = strconv.Quote(a)
			}
			fmt.Fprintf(b, "command = [%s]\n", strings.Join(q, ", "))
		}
		if len(s.Env) > 0 {
			kv := make([]string, len(s.Env))
			for i, e := range s.Env {
				k, v, _ := strings.Cut(e, "=")
				kv[i] = strconv.Quote(k) + " = " + strconv.Quote(v)
			}
			fmt.Fprintf(b, "env = { %s }\n", strings.Join(kv, ", "))
		}
		if s.Dir != "" {
			fmt.Fprintf(b, "dir = %s\n", strconv.Quote(s.Dir))
		}
	}
}

// mcpExample is the commented example config init writes.
const mcpExample = `
# MCP servers whose tools the model may call with --tools (stdio; each call
# asks first). Their stderr goes to mcp.log in the state directory.
#
# [mcp.files]
# command = ["mcp-server-filesystem", "/home/me/notes"]
# env = { LOG_LEVEL = "warn" }
# dir = "/home/me"
#
# [mcp.remote]                        # streamable HTTP instead of a command
# url = "http://127.0.0.1:8931/mcp"
`
