package mcp

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// A streamable-HTTP server (the SDK's own handler on loopback) gives its
// tools like a stdio one; an unreachable URL is an error naming it.
func TestStreamableHTTPServer(t *testing.T) {
	srv := sdk.NewServer(&sdk.Implementation{Name: "web", Version: "1"}, nil)
	type in struct {
		Text string `json:"text"`
	}
	sdk.AddTool(srv, &sdk.Tool{Name: "reverse", Description: "Reverses text."},
		func(_ context.Context, _ *sdk.CallToolRequest, a in) (*sdk.CallToolResult, any, error) {
			r := []rune(a.Text)
			for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
				r[i], r[j] = r[j], r[i]
			}
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: string(r)}}}, nil, nil
		})
	ts := httptest.NewServer(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return srv }, nil))
	defer ts.Close()

	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String() + "/mcp"
	l.Close()

	set, err := Connect(t.Context(), []Server{{Name: "web", URL: ts.URL}, {Name: "gone", URL: dead}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	if errs := set.Errors(); len(errs) != 1 || !strings.Contains(errs[0].Error(), `"gone"`) || !strings.Contains(errs[0].Error(), dead) {
		t.Fatalf("errors = %v", errs)
	}
	tl := set.Tools()
	if len(tl) != 1 || tl[0].Spec().Name != "reverse" || set.Source("reverse") != "mcp:web" {
		t.Fatalf("tools = %v", tl)
	}
	call, err := tl[0].Prepare(`{"text": "abc→"}`)
	if err != nil {
		t.Fatal(err)
	}
	if res := call.Run(t.Context()); res.IsError || res.Output != "→cba" {
		t.Fatalf("result %+v", res)
	}
	if err := set.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := set.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}
