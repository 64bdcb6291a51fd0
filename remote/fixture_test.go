package remote_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"natter/remote"
)

// Real servers' streams (remote/testdata/sse, sources in its README) read
// to the text, reasoning, finish reason, usage and tool calls they carry.
func TestServerTranscripts(t *testing.T) {
	b, err := os.ReadFile("testdata/sse/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Fixtures []struct {
			File, Content, Reasoning string
			FinishReason             string                             `json:"finish_reason"`
			PromptTokens             *int                               `json:"prompt_tokens"`
			CompletionTokens         *int                               `json:"completion_tokens"`
			ToolCalls                []struct{ Name, Arguments string } `json:"tool_calls"`
		}
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Fixtures) < 8 {
		t.Fatalf("only %d fixtures", len(doc.Fixtures))
	}
	for _, fx := range doc.Fixtures {
		t.Run(fx.File, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", "sse", fx.File))
			if err != nil {
				t.Fatal(err)
			}
			base := fake(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				w.Write(body)
			})
			c, err := remote.Open(context.Background(), remote.Endpoint{BaseURL: base, Model: "m"}, remote.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var streamed string
			res, err := c.Stream(context.Background(), userReq(), func(d remote.Delta) { streamed += d.Content })
			if err != nil {
				t.Fatal(err)
			}
			if res.Content != fx.Content || streamed != fx.Content || res.Reasoning != fx.Reasoning || res.FinishReason != fx.FinishReason {
				t.Errorf("content %q (streamed %q) reasoning %q finish %q; want %q %q %q", res.Content, streamed, res.Reasoning, res.FinishReason, fx.Content, fx.Reasoning, fx.FinishReason)
			}
			wantP, wantC := -1, 0
			if fx.PromptTokens != nil {
				wantP, wantC = *fx.PromptTokens, *fx.CompletionTokens
			}
			if res.PromptTokens != wantP || res.CompletionTokens != wantC {
				t.Errorf("usage %d/%d, want %d/%d", res.PromptTokens, res.CompletionTokens, wantP, wantC)
			}
			if strings.Contains(string(body), `"predicted_per_second"`) && res.ServerPredictedPerSecond <= 0 {
				t.Errorf("llama-server's timings were not read")
			}
			if len(res.ToolCalls) != len(fx.ToolCalls) {
				t.Fatalf("tool calls %+v, want %+v", res.ToolCalls, fx.ToolCalls)
			}
			for i, tc := range fx.ToolCalls {
				if res.ToolCalls[i].Name != tc.Name || res.ToolCalls[i].Arguments != tc.Arguments {
					t.Errorf("tool call %d: %+v, want %+v", i, res.ToolCalls[i], tc)
				}
			}
		})
	}
}
