package config

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// MCP servers come as tables, inline tables or dotted keys, in file order.
func TestMCPServers(t *testing.T) {
	c, err := loadText(t, `[sampling]
temp = 0.5

[mcp.fs]
command = ["npx", "-y", "@modelcontextprotocol/server-filesystem", "/tmp"]
env = { DEBUG = "1", "NODE OPTIONS" = "--x" }
dir = "/srv"

[mcp]
git = { command = ["uvx", "mcp-server-git"] }

[mcp.web]
command = [
  "web-mcp", # a comment inside the array
]
env.TOKEN_FILE = "~/.web"
env.LANG = "C"

[mcp.api]
command = ["api-mcp"]

[mcp.api.env]
KEY_FILE = "~/.api"

[chat]
theme = "dark"
`)
	if err != nil {
		t.Fatal(err)
	}
	ss := c.MCPServers()
	if len(ss) != 4 {
		t.Fatalf("%+v", ss)
	}
	fs, git, web, api := ss[0], ss[1], ss[2], ss[3]
	if fs.Name != "fs" || !slices.Equal(fs.Command, []string{"npx", "-y", "@modelcontextprotocol/server-filesystem", "/tmp"}) ||
		!slices.Equal(fs.Env, []string{"DEBUG=1", "NODE OPTIONS=--x"}) || fs.Dir != "/srv" || fs.Line != 4 {
		t.Errorf("fs: %+v", fs)
	}
	if git.Name != "git" || !slices.Equal(git.Command, []string{"uvx", "mcp-server-git"}) || git.Env != nil || git.Line != 10 {
		t.Errorf("git: %+v", git)
	}
	if web.Name != "web" || !slices.Equal(web.Command, []string{"web-mcp"}) || !slices.Equal(web.Env, []string{"TOKEN_FILE=~/.web", "LANG=C"}) {
		t.Errorf("web: %+v", web)
	}
	if api.Name != "api" || !slices.Equal(api.Env, []string{"KEY_FILE=~/.api"}) || api.Line != 19 {
		t.Errorf("api: %+v", api)
	}
	if v := c.Get("chat.theme"); v.Text != "dark" {
		t.Errorf("a section after the servers: theme %q", v.Text)
	}
	// The list is a copy.
	ss[0].Command[0] = "changed"
	if c.MCPServers()[0].Command[0] != "npx" {
		t.Error("MCPServers shares its slices")
	}
	dotted, err := loadText(t, "mcp.box.command = [\"box-mcp\"]\n")
	if err != nil || len(dotted.MCPServers()) != 1 || dotted.MCPServers()[0].Command[0] != "box-mcp" {
		t.Fatalf("dotted: %v %+v", err, dotted.MCPServers())
	}
	none, err := loadText(t, "[chat]\ntheme = \"dark\"\n")
	if err != nil || len(none.MCPServers()) != 0 {
		t.Fatalf("no servers: %v %+v", err, none.MCPServers())
	}
	var nilConfig *Config
	if nilConfig.MCPServers() != nil {
		t.Error("nil Config has servers")
	}
}

func TestMCPErrors(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"[mcp.fs]\ncommand = [\"x\"]\ncomand = [\"y\"]\n", `:3:1: unknown key "mcp.fs.comand" (did you mean "command"?) (an MCP server has command, env, dir, url)`},
		{"[mcp.fs]\ncommand = [\"x\"]\nurl = \"http://x\"\n", `:1: mcp.fs: an MCP server has a command (stdio) or a url (streamable HTTP), not both`},
		{"[mcp.fs]\ndir = \"/tmp\"\n", `:1: mcp.fs: an MCP server needs a command`},
		{"[mcp.fs]\ncommand = []\n", `:2:1: mcp.fs.command: want the program to run first`},
		{"[mcp.fs]\ncommand = [\"\"]\n", `mcp.fs.command: want the program to run first`},
		{"[mcp.fs]\ncommand = \"npx server\"\n", `:2:1: mcp.fs.command: want an array of strings such as ["npx", "-y", "server"], got a string`},
		{"[mcp.fs]\ncommand = [\"x\", 3]\n", `mcp.fs.command: item 2: want a string, got an integer`},
		{"[mcp.fs]\ncommand = [\"x\"]\nenv = \"A=1\"\n", `:3:1: mcp.fs.env: want a table such as {KEY = "value"}, got a string`},
		{"[mcp.fs]\ncommand = [\"x\"]\nenv = { A = 1 }\n", `mcp.fs.env.A: want a string, got an integer`},
		{"[mcp.fs]\ncommand = [\"x\"]\nenv = { \"A=B\" = \"1\" }\n", `mcp.fs.env.A=B: not a usable variable name`},
		{"[mcp.fs]\ncommand = [\"x\"]\ndir = 3\n", `mcp.fs.dir: want a string, got an integer`},
		{"[mcp.fs]\ncommand = [\"x\"]\ncommand = [\"y\"]\n", ""},
		{"[mcp.\"a/b\"]\ncommand = [\"x\"]\n", "MCP server names use letters, digits, - and _ only"},
		{"[mcp.fs.extra]\n", "an MCP server is a table [mcp.NAME]"},
		{"mcp = 3\n", "want tables [mcp.NAME], got an integer"},
		{"[mcp]\nfs = \"x\"\n", "mcp.fs: want a table (command, env, dir), got a string"},
		{"[mcp.fs]\ncommand = [\"x\"]\nenv.A.B = \"1\"\n", `unknown key "mcp.fs.env.A.B"`},
	} {
		_, err := loadText(t, c.text)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v; want %q", c.text, err, c.want)
		}
	}
}

// config show writes MCP servers back so they load the same.
func TestMCPShowRoundTrips(t *testing.T) {
	c, err := loadText(t, "[mcp.fs]\ncommand = [\"srv\", \"--root\", \"/tmp/a b\"]\nenv = { A = \"1\", B = \"x=y\" }\ndir = \"/tmp\"\n\n[mcp.git]\ncommand = [\"git-mcp\"]\n")
	if err != nil {
		t.Fatal(err)
	}
	back, err := loadText(t, c.Show())
	if err != nil {
		t.Fatalf("show does not load back: %v\n%s", err, c.Show())
	}
	a, b := c.MCPServers(), back.MCPServers()
	if len(a) != 2 || len(b) != 2 {
		t.Fatalf("%+v vs %+v", a, b)
	}
	for i := range a {
		a[i].Line, b[i].Line = 0, 0
		if fmt.Sprint(a[i]) != fmt.Sprint(b[i]) {
			t.Errorf("server %d: %+v, back %+v", i, a[i], b[i])
		}
	}
	if _, err := loadText(t, InitText()); err != nil {
		t.Fatalf("init text with the MCP example does not load: %v", err)
	}
}

func TestMCPURL(t *testing.T) {
	c, err := loadText(t, "[mcp.web]\nurl = \"http://127.0.0.1:8931/mcp\"\n")
	if err != nil || len(c.MCPServers()) != 1 || c.MCPServers()[0].URL != "http://127.0.0.1:8931/mcp" {
		t.Fatalf("%v %+v", err, c.MCPServers())
	}
	back, err := loadText(t, c.Show())
	if err != nil || back.MCPServers()[0].URL != c.MCPServers()[0].URL {
		t.Fatalf("show: %v\n%s", err, c.Show())
	}
	for text, want := range map[string]string{
		"[mcp.web]\nurl = \"ftp://x\"\n":                     "http:// or https://",
		"[mcp.web]\nurl = \"http://x\"\ncommand = [\"a\"]\n": "not both",
		"[mcp.web]\ndir = \"/tmp\"\n":                        "or a url",
	} {
		if _, err := loadText(t, text); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", text, err, want)
		}
	}
}
