package toolcall

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"natter/prompts"
	"natter/prompts/jinja"
)

const templateDir = "/work/shared/templates"

// testTools are OpenAI-shaped definitions, decoded with the Jinja package's
// JSON reader so key order is kept (templates print them).
func testTools(t *testing.T) []any {
	t.Helper()
	src := `[
 {"type": "function", "function": {"name": "read_file", "description": "Read a text file.",
   "parameters": {"type": "object", "properties": {"path": {"type": "string", "description": "File path"}}, "required": ["path"]}}},
 {"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city.",
   "parameters": {"type": "object", "properties": {
     "city": {"type": "string", "description": "City name"},
     "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
     "days": {"type": "integer"},
     "opts": {"type": "object"}}, "required": ["city"]}}}]`
	v, err := jinja.ParseJSON([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return v.(*jinja.List).Items
}

// The conversation every template renders: a request, the assistant's
// (parallel) calls, their results.
var (
	convUser  = "What's the weather in Paris, and what is in /tmp/notes.txt?"
	convCall1 = prompts.ToolCall{ID: "abc123DEF", Name: "get_weather",
		Arguments: `{"city":"Paris","unit":"celsius","days":3,"opts":{"detail":"high","hours":[6,12]},"alerts":true,"since":null,"tags":["rain","it's"],"note":"it's Zürich"}`}
	convCall2   = prompts.ToolCall{ID: "xyz789GHI", Name: "read_file", Arguments: `{"path":"/tmp/notes.txt"}`}
	convResult1 = "Sunny, 21 °C, light wind"
	convResult2 = "NOTES: buy bread"
)

func conversation(parallel bool) []prompts.Message {
	calls := []prompts.ToolCall{convCall1}
	if parallel {
		calls = append(calls, convCall2)
	}
	msgs := []prompts.Message{
		{Role: "system", Content: "You are a helpful assistant."},
		{Role: "user", Content: convUser},
		{Role: "assistant", ToolCalls: calls},
		{Role: "tool", Content: convResult1, ToolCallID: convCall1.ID, Name: convCall1.Name},
	}
	if parallel {
		msgs = append(msgs, prompts.Message{Role: "tool", Content: convResult2, ToolCallID: convCall2.ID, Name: convCall2.Name})
	}
	return msgs
}

type templateCase struct {
	file     string
	family   string
	bos, eos string
	// parallel: the template renders several calls in one turn.
	parallel bool
	// start and end delimit the assistant turn in the rendered prompt.
	start, end string
	// noCalls: why the template does not render an assistant's calls at
	// all (the format is then covered by fixture texts only).
	noCalls string
	// ids: the format carries the call ids.
	ids bool
}

var templateCases = []templateCase{
	{file: "Qwen-Qwen2.5-7B-Instruct.jinja", family: "hermes", parallel: true, start: "<|im_start|>assistant", end: "<|im_end|>"},
	{file: "Qwen-QwQ-32B.jinja", family: "hermes", parallel: true, start: "<|im_start|>assistant", end: "<|im_end|>"},
	{file: "Qwen-Qwen3-0.6B.jinja", family: "hermes", parallel: true, start: "<|im_start|>assistant", end: "<|im_end|>"},
	{file: "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", family: "hermes", bos: "<|begin_of_text|>", parallel: true, start: "<|im_start|>assistant", end: "<|im_end|>"},
	{file: "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", family: "hermes", bos: "<|begin_of_text|>", parallel: true, start: "<|im_start|>assistant", end: "<|im_end|>"},
	{file: "MiMo-VL.jinja", family: "hermes", parallel: true, start: "<|im_start|>assistant", end: "<|im_end|>"},
	{file: "Reka-Edge.jinja", family: "hermes", parallel: true, start: "assistant: ", end: "<sep>"},
	{file: "ibm-granite-granite-4.1.jinja", family: "hermes", parallel: true, start: "<|start_of_role|>assistant<|end_of_role|>", end: "<|end_of_text|>"},
	{file: "Qwen3-Coder.jinja", family: "qwen3-coder", parallel: true, start: "<|im_start|>assistant", end: "<|im_end|>"},
	{file: "NVIDIA-Nemotron-3-Nano-30B-A3B-BF16.jinja", family: "qwen3-coder", parallel: true, start: "<|im_start|>assistant", end: "<|im_end|>"},
	{file: "StepFun3.5-Flash.jinja", family: "qwen3-coder", parallel: true, start: "<|im_start|>assistant", end: "<|im_end|>"},
	{file: "stepfun-ai-Step-3.5-Flash.jinja", family: "qwen3-coder", parallel: true, start: "<|im_start|>assistant", end: "<|im_end|>"},
	// Llama 3.x templates refuse more than one call per turn.
	{file: "meta-llama-Llama-3.1-8B-Instruct.jinja", family: "llama3", bos: "<|begin_of_text|>", start: "<|start_header_id|>assistant<|end_header_id|>\n\n", end: "<|eot_id|>"},
	{file: "meta-llama-Llama-3.2-3B-Instruct.jinja", family: "llama3", bos: "<|begin_of_text|>", start: "<|start_header_id|>assistant<|end_header_id|>\n\n", end: "<|eot_id|>"},
	{file: "meta-llama-Llama-3.3-70B-Instruct.jinja", family: "llama3", bos: "<|begin_of_text|>", start: "<|start_header_id|>assistant<|end_header_id|>\n\n", end: "<|eot_id|>"},
	{file: "mistralai-Mistral-Nemo-Instruct-2407.jinja", family: "mistral", bos: "<s>", eos: "</s>", parallel: true, start: "[/INST]", end: "</s>", ids: true},
	{file: "Mistral-Small-3.2-24B-Instruct-2506.jinja", family: "mistral-v11", bos: "<s>", eos: "</s>", parallel: true, start: "[/INST]", end: "</s>", ids: true},
	{file: "unsloth-mistral-Devstral-Small-2507.jinja", family: "mistral-v11", bos: "<s>", eos: "</s>", parallel: true, start: "[/INST]", end: "</s>"},
	{file: "google-gemma-4-31B-it-interleaved.jinja", family: "gemma4", bos: "<bos>", eos: "<eos>", parallel: true, start: "<|turn>model\n", end: "<|tool_response>"}, // results fold into the turn
	{file: "LFM2.5-8B-A1B.jinja", family: "lfm2", bos: "<|startoftext|>", parallel: true, start: "<|im_start|>assistant\n", end: "<|im_end|>"},
	{file: "LFM2-8B-A1B.jinja", family: "lfm2", bos: "<|startoftext|>", parallel: true, start: "<|im_start|>assistant\n", end: "<|im_end|>",
		noCalls: "LFM2's template writes only an assistant turn's content, never its tool_calls"},
	{file: "ibm-granite-granite-3.3-2B-Instruct.jinja", family: "granite", parallel: true, start: "<|start_of_role|>assistant<|end_of_role|>", end: "<|end_of_text|>",
		noCalls: "Granite 3.3's template writes only an assistant turn's content, never its tool_calls"},
}

func readTemplate(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(templateDir, file))
	if err != nil {
		t.Skipf("template not available: %v", err)
	}
	return string(b)
}

func jsonEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// TestTemplatesRoundTrip renders a tool conversation with each family's
// real template and reads the assistant's calls back out of the prompt.
func TestTemplatesRoundTrip(t *testing.T) {
	tools := testTools(t)
	for _, tc := range templateCases {
		t.Run(tc.file, func(t *testing.T) {
			src := readTemplate(t, tc.file)
			f, ok := Detect(src)
			if !ok || f.Name != tc.family {
				name := "none"
				if ok {
					name = f.Name
				}
				t.Fatalf("Detect = %s, want %s", name, tc.family)
			}
			tmpl, err := prompts.NewJinja(tc.file, src, prompts.JinjaOptions{
				BOS: tc.bos, EOS: tc.eos, Tools: tools,
				Now: func() time.Time { return time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC) },
			})
			if err != nil {
				t.Skipf("natter's Jinja cannot parse the template: %v", err)
			}
			msgs := conversation(tc.parallel)
			out, err := tmpl.Render(msgs, true)
			if err != nil {
				t.Skipf("natter's Jinja cannot render the template: %v", err)
			}
			for _, want := range []string{"read_file", "get_weather", "city", convResult1} {
				if !strings.Contains(out, want) {
					t.Errorf("the prompt lacks %q:\n%s", want, out)
				}
			}
			if tc.parallel && !strings.Contains(out, convResult2) {
				t.Errorf("the prompt lacks the second tool result:\n%s", out)
			}

			turn := assistantTurn(t, out, tc)
			content, calls, bad := f.Parse(turn)
			if tc.noCalls != "" {
				// Nothing to read back; the turn must at least not be taken
				// for a broken call.
				if len(calls) != 0 || len(bad) != 0 {
					t.Errorf("%s, yet Parse found calls %v bad %v in %q", tc.noCalls, calls, bad, turn)
				}
				t.Logf("%s: format covered by fixture texts", tc.noCalls)
				return
			}
			if len(bad) != 0 {
				t.Errorf("malformed calls in the rendered turn %q: %+v", turn, bad)
			}
			if content != "" {
				t.Errorf("content %q, want none (turn %q)", content, turn)
			}
			want := msgs[2].ToolCalls
			if len(calls) != len(want) {
				t.Fatalf("read back %d calls %+v, want %d, from %q", len(calls), calls, len(want), turn)
			}
			for i := range want {
				if calls[i].Name != want[i].Name || !jsonEqual(calls[i].Arguments, want[i].Arguments) {
					t.Errorf("call %d = %s %s, want %s %s", i, calls[i].Name, calls[i].Arguments, want[i].Name, want[i].Arguments)
				}
				if tc.ids && calls[i].ID != want[i].ID {
					t.Errorf("call %d id %q, want %q", i, calls[i].ID, want[i].ID)
				}
			}
		})
	}
}

// assistantTurn cuts the assistant's turn out of a rendered prompt: after
// the user's message, before the first tool result, inside the turn
// markers.
func assistantTurn(t *testing.T, out string, tc templateCase) string {
	t.Helper()
	r := strings.Index(out, convResult1)
	u := strings.LastIndex(out[:max(r, 0)], convUser)
	if r < 0 || u < 0 {
		t.Fatalf("cannot find the user message before the tool result in:\n%s", out)
	}
	seg := out[u+len(convUser) : r]
	k := strings.LastIndex(seg, tc.start)
	if k < 0 {
		t.Fatalf("no assistant turn %q between the user message and the tool result: %q", tc.start, seg)
	}
	seg = seg[k+len(tc.start):]
	if e := strings.Index(seg, tc.end); e >= 0 {
		seg = seg[:e]
	}
	// Some templates open the turn with an (empty) thinking block; natter
	// splits reasoning off before the answer reaches Parse.
	if i := strings.Index(seg, "</think>"); i >= 0 && strings.Contains(seg[:i], "<think>") {
		seg = seg[i+len("</think>"):]
	}
	return seg
}

// TestDetectAll maps every template in the shared folder; a template of a
// family this package does not parse must give ok=false, never a wrong
// format.
func TestDetectAll(t *testing.T) {
	want := map[string]string{
		"Apertus-8B-Instruct.jinja":                           "",
		"Apriel-1.6-15b-Thinker-fixed.jinja":                  "",
		"ByteDance-Seed-OSS.jinja":                            "",
		"CohereForAI-c4ai-command-r-plus-tool_use.jinja":      "",
		"CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja": "",
		"GLM-4.6.jinja":                                       "",
		"GLM-4.7-Flash.jinja":                                 "",
		"GigaChat3-10B-A1.8B.jinja":                           "",
		"GigaChat3.1-10B-A1.8B.jinja":                         "",
		"Kimi-K2-Thinking.jinja":                              "",
		"MiniMax-M2.jinja":                                    "",
		"deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja":      "",
		"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja":      "",
		"deepseek-ai-DeepSeek-V3.1.jinja":                     "",
		"deepseek-ai-DeepSeek-V3.2.jinja":                     "",
		"fireworks-ai-llama-3-firefunction-v2.jinja":          "",
		"google-gemma-2-2b-it.jinja":                          "",
		"llama-cpp-deepseek-r1.jinja":                         "",
		"llama-cpp-rwkv-world.jinja":                          "",
		"meetkai-functionary-medium-v3.1.jinja":               "",
		"meetkai-functionary-medium-v3.2.jinja":               "",
		"microsoft-Phi-3.5-mini-instruct.jinja":               "",
		"moonshotai-Kimi-K2.jinja":                            "",
		"unsloth-Apriel-1.5.jinja":                            "",
		"upstage-Solar-Open-100B.jinja":                       "",
	}
	for _, tc := range templateCases {
		want[tc.file] = tc.family
	}
	entries, err := os.ReadDir(templateDir)
	if err != nil {
		t.Skipf("no templates: %v", err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".jinja") {
			continue
		}
		w, known := want[e.Name()]
		if !known {
			t.Errorf("%s: not in the table; add it with its family", e.Name())
			continue
		}
		b, err := os.ReadFile(filepath.Join(templateDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if f, ok := Detect(string(b)); ok {
			got = f.Name
		}
		if got != w {
			t.Errorf("%s: Detect = %q, want %q", e.Name(), got, w)
		}
	}
}

// TestGGUFTemplates checks templates stored in GGUF vocab files: Gemma 4's
// (a slightly older revision than the .jinja) and Qwen3.5's test vocab,
// whose template is a plain ChatML one without tools.
func TestGGUFTemplates(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"ggml-vocab-gemma-4.gguf", "gemma4"},
		{"ggml-vocab-qwen35.gguf", ""},
	} {
		src, err := ggufChatTemplate(filepath.Join("/work/shared/models/vocab", tc.file))
		if os.IsNotExist(err) {
			t.Logf("%s: %v", tc.file, err)
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		got := ""
		if f, ok := Detect(src); ok {
			got = f.Name
		}
		if got != tc.want {
			t.Errorf("%s: Detect = %q, want %q", tc.file, got, tc.want)
		}
	}
}

func TestDetectBasics(t *testing.T) {
	if _, ok := Detect(""); ok {
		t.Error("an empty template has tool support")
	}
	if _, ok := Detect("{% for m in messages %}<tool_call>{{ m.content }}{% endfor %}"); ok {
		t.Error("a template that never mentions tools has tool support")
	}
	for _, n := range Names() {
		f, ok := ByName(n)
		if !ok || f.Name != n {
			t.Errorf("ByName(%q) = %v, %v", n, f, ok)
		}
		if len(f.Openers()) == 0 {
			t.Errorf("%s has no openers", n)
		}
	}
	if _, ok := ByName("nope"); ok {
		t.Error(`ByName("nope") found a format`)
	}
	// A harmony (gpt-oss) template is not among the shared ones; a
	// fragment written the way gpt-oss's template writes calls.
	src := `{%- for tool_call in message.tool_calls -%}{{- "<|start|>assistant to=functions." + tool_call.function.name + "<|channel|>commentary json<|message|>" + tool_call.function.arguments|tojson + "<|call|>" -}}{%- endfor -%}{{ tools }}`
	if f, ok := Detect(src); !ok || f.Name != "harmony" {
		t.Errorf("harmony fragment: Detect = %v, %v", f, ok)
	}
}
