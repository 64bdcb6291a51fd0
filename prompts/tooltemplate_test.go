package prompts

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func sharedTemplate(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../shared/templates/" + name)
	if err != nil {
		t.Skipf("did not run: %v", err)
	}
	return string(b)
}

var weatherTool, _ = ToolDefinition("get_weather", "Weather for a city",
	[]byte(`{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}`))

func TestWithToolsRendersToolsAndCalls(t *testing.T) {
	qwen, err := NewJinja("gguf:jinja", sharedTemplate(t, "Qwen-Qwen2.5-7B-Instruct.jinja"), JinjaOptions{})
	if err != nil {
		t.Fatal(err)
	}
	chain := NewChain(qwen, ChatML())
	tt, err := WithTools(chain, []any{weatherTool})
	if err != nil {
		t.Fatal(err)
	}
	msgs := []Message{
		{Role: RoleUser, Content: "Weather in Oslo?"},
		{Role: RoleAssistant, ToolCalls: []ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Oslo"}`}}},
		{Role: RoleTool, ToolCallID: "call_1", Name: "get_weather", Content: "rain, 4 °C"},
	}
	out, spans, used, err := RenderProtected(tt, msgs, true, ChatMLSpecials)
	if err != nil {
		t.Fatal(err)
	}
	def := `{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}`
	for _, want := range []string{def, "<tools>", `{"name": "get_weather", "arguments": {"city": "Oslo"}}`, "<tool_response>\nrain, 4 °C\n</tool_response>"} {
		if !strings.Contains(out, want) {
			t.Errorf("prompt lacks %q:\n%s", want, out)
		}
	}
	if used != "gguf:jinja" || len(spans) == 0 {
		t.Errorf("used %q, %d spans", used, len(spans))
	}
	if got := ToolsOf(tt); len(got) != 1 {
		t.Errorf("ToolsOf = %v", got)
	}
	// Without tools the same template writes none of it.
	plain, _ := qwen.Render(msgs[:1], true)
	if strings.Contains(plain, "<tools>") {
		t.Errorf("tools rendered without WithTools:\n%s", plain)
	}
}

func TestWithToolsRefusesTemplatesWithoutTools(t *testing.T) {
	_, err := WithTools(NewChain(ChatML()), []any{weatherTool})
	if !errors.Is(err, ErrNoToolSupport) {
		t.Fatalf("chatml only: err = %v, want ErrNoToolSupport", err)
	}
	j, _ := NewJinja("user:x", "{% for m in messages %}{{ m.content }}{% endfor %}", JinjaOptions{})
	if _, err := WithTools(j, []any{weatherTool}); !errors.Is(err, ErrNoToolSupport) || !strings.Contains(err.Error(), "user:x") {
		t.Fatalf("template without tools: err = %v", err)
	}
	if same, err := WithTools(j, nil); err != nil || same != ChatTemplate(j) {
		t.Fatalf("no tools should leave the template as it is: %v", err)
	}
}

// Gemma 4 reads results from the calling turn's tool_responses: tool
// messages are folded there, so the prompt continues the model's turn as
// the model was trained, instead of opening a "tool" turn.
func TestGemma4ToolResultsFoldIntoTheModelTurn(t *testing.T) {
	src := sharedTemplate(t, "google-gemma-4-31B-it-interleaved.jinja")
	if !foldsToolResults(src) {
		t.Fatal("Gemma 4's template not recognised as one that folds tool results")
	}
	if foldsToolResults(sharedTemplate(t, "Qwen-Qwen2.5-7B-Instruct.jinja")) {
		t.Fatal("Qwen2.5's template folds tool results")
	}
	j, err := NewJinja("gguf:jinja", src, JinjaOptions{BOS: "<bos>"})
	if err != nil {
		t.Fatal(err)
	}
	tt, err := WithTools(j, []any{weatherTool})
	if err != nil {
		t.Fatal(err)
	}
	msgs := []Message{
		{Role: RoleUser, Content: "Weather in Oslo?"},
		{Role: RoleAssistant, ToolCalls: []ToolCall{{ID: "call00001", Name: "get_weather", Arguments: `{"city":"Oslo"}`}}},
		{Role: RoleTool, ToolCallID: "call00001", Name: "get_weather", Content: "rain, 4 °C"},
	}
	out, err := tt.Render(msgs, true)
	if err != nil {
		t.Fatal(err)
	}
	want := `<|turn>model` + "\n" + `<|tool_call>call:get_weather{city:<|"|>Oslo<|"|>}<tool_call|><|tool_response>response:get_weather{value:<|"|>rain, 4 °C<|"|>}<tool_response|>`
	if !strings.Contains(out, want) || strings.Contains(out, "<|turn>tool") {
		t.Fatalf("prompt:\n%s\nwant it to contain:\n%s", out, want)
	}
	if strings.HasSuffix(strings.TrimSuffix(out, "<|channel>thought\n<channel|>"), "<|turn>model\n") {
		t.Fatalf("a new model turn was opened after the results:\n%s", out)
	}
	// The same messages, spans tracked, render alike.
	out2, _, _, err := RenderProtected(tt, msgs, true, []string{"<|turn>", "<turn|>"})
	if err != nil || out2 != out {
		t.Fatalf("RenderProtected differs (%v):\n%s", err, out2)
	}
}
