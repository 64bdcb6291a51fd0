package cli

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"natter/tools"
	"natter/ui"
)

// The test binary doubles as a one-tool MCP server (a real stdio server
// built with the SDK), so the chat's wiring is tested against a process.
const mcpServerEnv = "NATTER_CLI_TEST_MCP_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(mcpServerEnv) != "" {
		s := sdk.NewServer(&sdk.Implementation{Name: "cli-test", Version: "1"}, nil)
		type in struct {
			Text string `json:"text"`
		}
		sdk.AddTool(s, &sdk.Tool{Name: "shout", Description: "Upper-cases text."},
			func(_ context.Context, _ *sdk.CallToolRequest, a in) (*sdk.CallToolResult, any, error) {
				return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: strings.ToUpper(a.Text)}}}, nil, nil
			})
		s.Run(context.Background(), &sdk.StdioTransport{})
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestStartMCPAddsServerTools(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	withConfig(t, "[mcp.box]\ncommand = ["+strconv.Quote(os.Args[0])+"]\nenv = { "+mcpServerEnv+" = \"1\" }\n")
	set, err := tools.New(tools.Box{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	// Without --tools no server starts.
	tc := &ui.ToolsConfig{Tools: set.Builtin()}
	startMCP(t.Context(), false, tc)()
	if len(tc.Tools) != 6 {
		t.Fatalf("%d tools without --tools", len(tc.Tools))
	}
	stop := startMCP(t.Context(), true, tc)
	defer stop()
	var shout tools.Tool
	for _, tl := range tc.Tools {
		if tl.Spec().Name == "shout" {
			shout = tl
		}
	}
	if shout == nil || tc.Source["shout"] != "mcp:box" {
		t.Fatalf("the server's tool is missing: %d tools, sources %v", len(tc.Tools), tc.Source)
	}
	call, err := shout.Prepare(`{"text": "héllo"}`)
	if err != nil {
		t.Fatal(err)
	}
	if !call.NeedsApproval(true) {
		t.Error("an MCP tool not marked read-only runs unasked under --yolo")
	}
	if res := call.Run(t.Context()); res.IsError || res.Output != "HÉLLO" {
		t.Fatalf("result %+v", res)
	}
	stop()
	if res := call.Run(t.Context()); !res.IsError {
		t.Fatalf("a call after the servers ended worked: %+v", res)
	}
}
