package toolcall

import (
	"encoding/json"
	"math/rand"
	"reflect"
	"strings"
	"testing"

	"natter/prompts"
	"natter/prompts/grammar"
)

type wantCall struct{ id, name, args string }

// fixture is a reply as a model of the family writes it.
type fixture struct {
	name    string
	text    string
	content string
	calls   []wantCall
	bad     int
	// single: exactly one call and nothing else; the call grammar must
	// accept it.
	single bool
	// vis is the text a stream shows, when it is not simply the text
	// before the first opener.
	vis    string
	visSet bool
}

var (
	weatherArgs = `{"city": "Paris", "unit": "celsius"}`
	fileArgs    = `{"path": "/tmp/notes.txt"}`
	uniArgs     = `{"city": "Zürich — 東京 🌧", "note": "naïve \"quoted\""}`
	nestedArgs  = `{"city": "Paris", "days": 3, "opts": {"alerts": true, "detail": "high", "hours": [6, 12], "deep": {"x": null}}}`
)

func weather() wantCall { return wantCall{name: "get_weather", args: weatherArgs} }
func file() wantCall    { return wantCall{name: "read_file", args: fileArgs} }

var fixtures = map[string][]fixture{
	"hermes": {
		{name: "one", text: "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": " + weatherArgs + "}\n</tool_call>", calls: []wantCall{weather()}, single: true},
		{name: "parallel", text: "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": " + weatherArgs + "}\n</tool_call>\n<tool_call>\n{\"name\": \"read_file\", \"arguments\": " + fileArgs + "}\n</tool_call>", calls: []wantCall{weather(), file()}},
		{name: "before", text: "Let me check the weather.\n\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": " + weatherArgs + "}\n</tool_call>", content: "Let me check the weather.", calls: []wantCall{weather()}},
		{name: "after", text: "<tool_call>\n{\"name\": \"read_file\", \"arguments\": " + fileArgs + "}\n</tool_call>\nI asked for the file.", content: "I asked for the file.", calls: []wantCall{file()}},
		{name: "bad-json", text: "I'll look.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\",}}\n</tool_call>", content: "I'll look.", bad: 1},
		{name: "unclosed", text: "Checking.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Par", content: "Checking.", bad: 1},
		{name: "array-args", text: "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": [\"Paris\"]}\n</tool_call>", bad: 1},
		{name: "good-and-bad", text: "<tool_call>\n{\"name\": \"read_file\", \"arguments\": " + fileArgs + "}\n</tool_call>\n<tool_call>\n{\"name\": \"get_weather\"\n</tool_call>", calls: []wantCall{file()}, bad: 1},
		{name: "unicode", text: "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": " + uniArgs + "}\n</tool_call>", calls: []wantCall{{name: "get_weather", args: uniArgs}}, single: true},
		{name: "nested", text: "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": " + nestedArgs + "}\n</tool_call>", calls: []wantCall{{name: "get_weather", args: nestedArgs}}, single: true},
		{name: "parameters-alias", text: "<tool_call>\n{\"name\": \"read_file\", \"parameters\": " + fileArgs + "}\n</tool_call>", calls: []wantCall{file()}},
		{name: "string-args", text: "<tool_call>\n{\"name\": \"read_file\", \"arguments\": \"{\\\"path\\\": \\\"/tmp/notes.txt\\\"}\"}\n</tool_call>", calls: []wantCall{file()}},
		{name: "prose", text: "Use a < b, and <b>bold</b> or <tool> tags.", content: "Use a < b, and <b>bold</b> or <tool> tags."},
	},
	"qwen3-coder": {
		{name: "one", text: "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=unit>\ncelsius\n</parameter>\n</function>\n</tool_call>", calls: []wantCall{weather()}, single: true},
		{name: "parallel", text: "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=unit>\ncelsius\n</parameter>\n</function>\n</tool_call>\n<tool_call>\n<function=read_file>\n<parameter=path>\n/tmp/notes.txt\n</parameter>\n</function>\n</tool_call>", calls: []wantCall{weather(), file()}},
		{name: "before", text: "I will read it.\n\n<tool_call>\n<function=read_file>\n<parameter=path>\n/tmp/notes.txt\n</parameter>\n</function>\n</tool_call>", content: "I will read it.", calls: []wantCall{file()}},
		{name: "bad-structure", text: "Sure.\n<tool_call>\n<function=get_weather\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>", content: "Sure.", bad: 1},
		{name: "bad-body", text: "<tool_call>\nget_weather(city=Paris)\n</tool_call>", bad: 1},
		{name: "unclosed", text: "Sure.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nPar", content: "Sure.", bad: 1},
		{name: "array-args", text: "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": [1, 2]}\n</tool_call>", bad: 1},
		{name: "unicode", text: "<tool_call>\n<function=get_weather>\n<parameter=city>\nZürich — 東京 🌧\n</parameter>\n<parameter=note>\nnaïve \"quoted\"\n</parameter>\n</function>\n</tool_call>", calls: []wantCall{{name: "get_weather", args: uniArgs}}, single: true},
		{name: "nested", text: "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n3\n</parameter>\n<parameter=opts>\n{\"alerts\": true, \"detail\": \"high\", \"hours\": [6, 12], \"deep\": {\"x\": null}}\n</parameter>\n</function>\n</tool_call>", calls: []wantCall{{name: "get_weather", args: nestedArgs}}, single: true},
		{name: "multiline", text: "<tool_call>\n<function=write>\n<parameter=text>\nline one\n  line two\n</parameter>\n</function>\n</tool_call>", calls: []wantCall{{name: "write", args: `{"text": "line one\n  line two"}`}}},
		{name: "no-param-close", text: "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n<parameter=unit>\ncelsius\n</function>\n</tool_call>", calls: []wantCall{weather()}},
		{name: "bare-function", text: "Reading.\n<function=read_file>\n<parameter=path>\n/tmp/notes.txt\n</parameter>\n</function>", content: "Reading.", calls: []wantCall{file()}},
		{name: "json-body", text: "<tool_call>\n{\"name\": \"read_file\", \"arguments\": " + fileArgs + "}\n</tool_call>", calls: []wantCall{file()}},
		{name: "prose", text: "In Go, x<y and <function> is not a tag.", content: "In Go, x<y and <function> is not a tag."},
	},
	"llama3": {
		{name: "one", text: `{"name": "get_weather", "parameters": ` + weatherArgs + `}`, calls: []wantCall{weather()}, single: true},
		{name: "parallel", text: `{"name": "get_weather", "parameters": ` + weatherArgs + `}; {"name": "read_file", "parameters": ` + fileArgs + `}`, calls: []wantCall{weather(), file()}},
		{name: "parallel-lines", text: "{\"name\": \"get_weather\", \"parameters\": " + weatherArgs + "}\n{\"name\": \"read_file\", \"parameters\": " + fileArgs + "}", calls: []wantCall{weather(), file()}},
		{name: "python-tag", text: `<|python_tag|>{"name": "read_file", "parameters": ` + fileArgs + `}`, calls: []wantCall{file()}},
		{name: "before", text: "Let me look that up.\n<|python_tag|>{\"name\": \"get_weather\", \"parameters\": " + weatherArgs + "}", content: "Let me look that up.", calls: []wantCall{weather()}},
		{name: "openai-shape", text: `{"type": "function", "function": {"name": "read_file", "parameters": ` + fileArgs + `}}`, calls: []wantCall{file()}},
		{name: "builtin", text: `<|python_tag|>brave_search.call(query="weather in Paris")`, calls: []wantCall{{name: "brave_search", args: `{"query": "weather in Paris"}`}}},
		{name: "bad-json", text: `{"name": "get_weather", "parameters": {"city": "Paris",}}`, bad: 1},
		{name: "unclosed", text: `{"name": "get_weather", "parameters": {"city": "Par`, bad: 1},
		{name: "array-args", text: `{"name": "get_weather", "parameters": ["Paris"]}`, bad: 1},
		{name: "unicode", text: `{"name": "get_weather", "parameters": ` + uniArgs + `}`, calls: []wantCall{{name: "get_weather", args: uniArgs}}, single: true},
		{name: "nested", text: `{"name": "get_weather", "parameters": ` + nestedArgs + `}`, calls: []wantCall{{name: "get_weather", args: nestedArgs}}, single: true},
		{name: "prose", text: "The set {1, 2} has two elements; {\"name\": \"x\"} is JSON.", content: "The set {1, 2} has two elements; {\"name\": \"x\"} is JSON.",
			vis: "The set {1, 2} has two elements; {\"name\": \"x\"} is JSON.", visSet: true},
		{name: "json-answer", text: `{"name": "Bob", "age": 3}`, content: `{"name": "Bob", "age": 3}`},
	},
	"mistral": {
		{name: "one", text: `[TOOL_CALLS][{"name": "get_weather", "arguments": ` + weatherArgs + `, "id": "abc123DEF"}]`, calls: []wantCall{{id: "abc123DEF", name: "get_weather", args: weatherArgs}}, single: true},
		{name: "parallel", text: `[TOOL_CALLS][{"name": "get_weather", "arguments": ` + weatherArgs + `, "id": "abc123DEF"}, {"name": "read_file", "arguments": ` + fileArgs + `, "id": "xyz789GHI"}]`,
			calls: []wantCall{{id: "abc123DEF", name: "get_weather", args: weatherArgs}, {id: "xyz789GHI", name: "read_file", args: fileArgs}}},
		{name: "before", text: "Let me check.[TOOL_CALLS][{\"name\": \"read_file\", \"arguments\": " + fileArgs + "}]", content: "Let me check.", calls: []wantCall{file()}},
		{name: "bad-json", text: `Ok. [TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris",}}]`, content: "Ok.", bad: 1},
		{name: "unclosed", text: `[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Par`, bad: 1},
		{name: "array-args", text: `[TOOL_CALLS][{"name": "get_weather", "arguments": ["Paris"]}]`, bad: 1},
		{name: "unicode", text: `[TOOL_CALLS][{"name": "get_weather", "arguments": ` + uniArgs + `}]`, calls: []wantCall{{name: "get_weather", args: uniArgs}}, single: true},
		{name: "nested", text: `[TOOL_CALLS][{"name": "get_weather", "arguments": ` + nestedArgs + `}]`, calls: []wantCall{{name: "get_weather", args: nestedArgs}}, single: true},
		{name: "v11-shape", text: `[TOOL_CALLS]read_file[ARGS]` + fileArgs, calls: []wantCall{file()}},
		{name: "prose", text: "Arrays look like [1, 2] and [TOOL] is not a marker.", content: "Arrays look like [1, 2] and [TOOL] is not a marker."},
	},
	"mistral-v11": {
		{name: "one", text: `[TOOL_CALLS]get_weather[ARGS]` + weatherArgs, calls: []wantCall{weather()}, single: true},
		{name: "parallel", text: `[TOOL_CALLS]get_weather[ARGS]` + weatherArgs + `[TOOL_CALLS]read_file[ARGS]` + fileArgs, calls: []wantCall{weather(), file()}},
		{name: "call-id", text: `[TOOL_CALLS]get_weather[CALL_ID]abc123DEF[ARGS]` + weatherArgs, calls: []wantCall{{id: "abc123DEF", name: "get_weather", args: weatherArgs}}, single: true},
		{name: "before", text: "Let me check.\n\n[TOOL_CALLS]read_file[ARGS]" + fileArgs, content: "Let me check.", calls: []wantCall{file()}},
		{name: "bad-json", text: `On it.[TOOL_CALLS]get_weather[ARGS]{"city": "Paris",}`, content: "On it.", bad: 1},
		{name: "unclosed", text: `[TOOL_CALLS]get_weather[ARGS]{"city": "Par`, bad: 1},
		{name: "no-args", text: `[TOOL_CALLS]get_wea`, bad: 1},
		{name: "array-args", text: `[TOOL_CALLS]get_weather[ARGS]["Paris"]`, bad: 1},
		{name: "unicode", text: `[TOOL_CALLS]get_weather[ARGS]` + uniArgs, calls: []wantCall{{name: "get_weather", args: uniArgs}}, single: true},
		{name: "nested", text: `[TOOL_CALLS]get_weather[ARGS]` + nestedArgs, calls: []wantCall{{name: "get_weather", args: nestedArgs}}, single: true},
		{name: "after", text: "[TOOL_CALLS]read_file[ARGS]" + fileArgs + " done", content: "done", calls: []wantCall{file()}},
		{name: "prose", text: "See [1] and [TOOL_ CALLS].", content: "See [1] and [TOOL_ CALLS]."},
	},
	"gemma4": {
		{name: "one", text: `<|tool_call>call:get_weather{city:<|"|>Paris<|"|>,unit:<|"|>celsius<|"|>}<tool_call|>`, calls: []wantCall{weather()}, single: true},
		{name: "parallel", text: `<|tool_call>call:get_weather{city:<|"|>Paris<|"|>,unit:<|"|>celsius<|"|>}<tool_call|><|tool_call>call:read_file{path:<|"|>/tmp/notes.txt<|"|>}<tool_call|>`, calls: []wantCall{weather(), file()}},
		{name: "before", text: "Let me check.\n<|tool_call>call:read_file{path:<|\"|>/tmp/notes.txt<|\"|>}<tool_call|>", content: "Let me check.", calls: []wantCall{file()}},
		{name: "turn-end", text: `<|tool_call>call:read_file{path:<|"|>/tmp/notes.txt<|"|>}<tool_call|><|tool_response>`, calls: []wantCall{file()}},
		{name: "no-closer", text: `<|tool_call>call:read_file{path:<|"|>/tmp/notes.txt<|"|>}`, calls: []wantCall{file()}},
		{name: "bad-args", text: `Ok <|tool_call>call:get_weather{city <|"|>Paris<|"|>}<tool_call|>`, content: "Ok", bad: 1},
		{name: "unclosed", text: `<|tool_call>call:get_weather{city:<|"|>Par`, bad: 1},
		{name: "array-args", text: `<|tool_call>call:get_weather[<|"|>Paris<|"|>]<tool_call|>`, bad: 1},
		{name: "unicode", text: `<|tool_call>call:get_weather{city:<|"|>Zürich — 東京 🌧<|"|>,note:<|"|>naïve "quoted"<|"|>}<tool_call|>`, calls: []wantCall{{name: "get_weather", args: uniArgs}}, single: true},
		{name: "nested", text: `<|tool_call>call:get_weather{city:<|"|>Paris<|"|>,days:3,opts:{alerts:true,detail:<|"|>high<|"|>,hours:[6,12],deep:{x:null}}}<tool_call|>`, calls: []wantCall{{name: "get_weather", args: nestedArgs}}, single: true},
		{name: "prose", text: "A <|\"|> alone and <|tool is not a call.", content: "A <|\"|> alone and <|tool is not a call."},
	},
	"lfm2": {
		{name: "one", text: `<|tool_call_start|>[get_weather(city="Paris", unit="celsius")]<|tool_call_end|>`, calls: []wantCall{weather()}, single: true},
		{name: "parallel", text: `<|tool_call_start|>[get_weather(city="Paris", unit="celsius"), read_file(path="/tmp/notes.txt")]<|tool_call_end|>`, calls: []wantCall{weather(), file()}},
		{name: "before", text: "Let me check.\n<|tool_call_start|>[read_file(path='/tmp/notes.txt')]<|tool_call_end|>", content: "Let me check.", calls: []wantCall{file()}},
		{name: "after", text: "<|tool_call_start|>[read_file(path='/tmp/notes.txt')]<|tool_call_end|>Checking the file.", content: "Checking the file.", calls: []wantCall{file()}},
		{name: "bad-syntax", text: `Ok.<|tool_call_start|>[get_weather(city="Paris",, unit=)]<|tool_call_end|>`, content: "Ok.", bad: 1},
		{name: "unclosed", text: `<|tool_call_start|>[get_weather(city="Par`, bad: 1},
		{name: "json-form", text: `<|tool_call_start|>[{"name": "get_weather", "arguments": ` + weatherArgs + `}]<|tool_call_end|>`, calls: []wantCall{weather()}},
		{name: "array-args", text: `<|tool_call_start|>[{"name": "get_weather", "arguments": ["Paris"]}]<|tool_call_end|>`, bad: 1},
		{name: "bad-json", text: `<|tool_call_start|>[{"name": "get_weather", "arguments": {"city": "Paris",}}]<|tool_call_end|>`, bad: 1},
		{name: "unicode", text: `<|tool_call_start|>[get_weather(city="Zürich — 東京 🌧", note='naïve "quoted"')]<|tool_call_end|>`, calls: []wantCall{{name: "get_weather", args: uniArgs}}, single: true},
		{name: "nested", text: `<|tool_call_start|>[get_weather(city='Paris', days=3, opts={"alerts": True, "detail": "high", "hours": [6, 12], "deep": {"x": None}})]<|tool_call_end|>`, calls: []wantCall{{name: "get_weather", args: nestedArgs}}, single: true},
		{name: "escapes", text: `<|tool_call_start|>[read_file(path='C:\\tmp\\it\'s.txt')]<|tool_call_end|>`, calls: []wantCall{{name: "read_file", args: `{"path": "C:\\tmp\\it's.txt"}`}}},
		{name: "prose", text: "Use f(x=1) and <|tool_call_end|> here.", content: "Use f(x=1) and <|tool_call_end|> here."},
	},
	"granite": {
		{name: "one", text: `<|tool_call|>[{"name": "get_weather", "arguments": ` + weatherArgs + `}]`, calls: []wantCall{weather()}, single: true},
		{name: "parallel", text: `<|tool_call|>[{"name": "get_weather", "arguments": ` + weatherArgs + `}, {"name": "read_file", "arguments": ` + fileArgs + `}]`, calls: []wantCall{weather(), file()}},
		{name: "before", text: "Let me check.\n<|tool_call|>[{\"name\": \"read_file\", \"arguments\": " + fileArgs + "}]", content: "Let me check.", calls: []wantCall{file()}},
		{name: "bad-json", text: `Hm.<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris",}}]`, content: "Hm.", bad: 1},
		{name: "unclosed", text: `<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Par`, bad: 1},
		{name: "array-args", text: `<|tool_call|>[{"name": "get_weather", "arguments": ["Paris"]}]`, bad: 1},
		{name: "unicode", text: `<|tool_call|>[{"name": "get_weather", "arguments": ` + uniArgs + `}]`, calls: []wantCall{{name: "get_weather", args: uniArgs}}, single: true},
		{name: "nested", text: `<|tool_call|>[{"name": "get_weather", "arguments": ` + nestedArgs + `}]`, calls: []wantCall{{name: "get_weather", args: nestedArgs}}, single: true},
		{name: "prose", text: "The <|tool_ marker <| is not here.", content: "The <|tool_ marker <| is not here."},
	},
	// No gpt-oss template is among the shared ones: fixture texts only.
	"harmony": {
		{name: "one", text: `<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>` + weatherArgs + `<|call|>`, calls: []wantCall{weather()}, single: true},
		{name: "with-start", text: `<|start|>assistant<|channel|>commentary to=functions.read_file <|constrain|>json<|message|>` + fileArgs + `<|call|>`, calls: []wantCall{file()}, single: true},
		{name: "to-in-header", text: `<|start|>assistant to=functions.read_file<|channel|>commentary json<|message|>` + fileArgs + `<|call|>`, calls: []wantCall{file()}},
		{name: "stop-token-cut", text: `<|channel|>commentary to=functions.read_file <|constrain|>json<|message|>` + fileArgs, calls: []wantCall{file()}},
		{name: "preamble", text: `<|channel|>commentary<|message|>Let me check the weather.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>` + weatherArgs + `<|call|>`,
			content: "Let me check the weather.", calls: []wantCall{weather()}, vis: "Let me check the weather.", visSet: true},
		{name: "parallel", text: `<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>` + weatherArgs + `<|call|><|start|>assistant<|channel|>commentary to=functions.read_file <|constrain|>json<|message|>` + fileArgs + `<|call|>`, calls: []wantCall{weather(), file()}},
		{name: "bad-json", text: `<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city": "Paris",}<|call|>`, bad: 1},
		{name: "unclosed", text: `<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city": "Par`, bad: 1},
		{name: "unclosed-header", text: `<|channel|>commentary to=functions.get_weather <|constr`, bad: 1},
		{name: "array-args", text: `<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>["Paris"]<|call|>`, bad: 1},
		{name: "unicode", text: `<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>` + uniArgs + `<|call|>`, calls: []wantCall{{name: "get_weather", args: uniArgs}}, single: true},
		{name: "nested", text: `<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>` + nestedArgs + `<|call|>`, calls: []wantCall{{name: "get_weather", args: nestedArgs}}, single: true},
		{name: "final", text: `<|channel|>final<|message|>It is sunny <in> Paris.<|return|>`, content: "It is sunny <in> Paris.", vis: "It is sunny <in> Paris.", visSet: true},
		{name: "prose", text: "Plain answer with <| and |> signs.", content: "Plain answer with <| and |> signs."},
	},
}

func checkParse(t *testing.T, f *Format, fx fixture, content string, calls []prompts.ToolCall, bad []Malformed) {
	t.Helper()
	if content != fx.content {
		t.Errorf("content = %q, want %q", content, fx.content)
	}
	if len(bad) != fx.bad {
		t.Errorf("bad = %+v, want %d", bad, fx.bad)
	}
	for _, b := range bad {
		if b.Raw == "" || b.Reason == "" {
			t.Errorf("a malformed call lacks its text or reason: %+v", b)
		}
		if content != "" && strings.Contains(content, strings.TrimSpace(b.Raw)) {
			t.Errorf("content %q keeps the malformed call %q", content, b.Raw)
		}
	}
	if len(calls) != len(fx.calls) {
		t.Fatalf("calls = %+v, want %d", calls, len(fx.calls))
	}
	for i, w := range fx.calls {
		c := calls[i]
		id := w.id
		if id == "" {
			id = "call_" + string(rune('1'+i))
		}
		if c.ID != id || c.Name != w.name || !jsonEqual(c.Arguments, w.args) {
			t.Errorf("call %d = %+v, want id %s %s %s", i, c, id, w.name, w.args)
		}
		if !json.Valid([]byte(c.Arguments)) {
			t.Errorf("call %d arguments are not valid JSON: %q", i, c.Arguments)
		}
		if strings.ContainsAny(c.Arguments, "\n\t") || strings.Contains(c.Arguments, ": ") {
			t.Errorf("call %d arguments are not compact: %q", i, c.Arguments)
		}
	}
}

func TestParseFixtures(t *testing.T) {
	for _, name := range Names() {
		f, _ := ByName(name)
		list, ok := fixtures[name]
		if !ok {
			t.Errorf("no fixtures for %s", name)
			continue
		}
		for _, fx := range list {
			t.Run(name+"/"+fx.name, func(t *testing.T) {
				content, calls, bad := f.Parse(fx.text)
				checkParse(t, f, fx, content, calls, bad)
			})
		}
	}
}

// expectedVisible is what a stream shows of a fixture: the text before the
// first opener, unless the fixture says otherwise.
func expectedVisible(f *Format, fx fixture) string {
	if fx.visSet {
		return fx.vis
	}
	if i, _ := indexAny(fx.text, f.Openers()); i >= 0 {
		return fx.text[:i]
	}
	return fx.text
}

func feedAll(f *Format, pieces []string) (visible string, s *Stream) {
	s = f.NewStream()
	var b strings.Builder
	for _, p := range pieces {
		b.WriteString(s.Feed(p))
	}
	return b.String(), s
}

func TestStreamFixtures(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for _, name := range Names() {
		f, _ := ByName(name)
		for _, fx := range fixtures[name] {
			t.Run(name+"/"+fx.name, func(t *testing.T) {
				want := expectedVisible(f, fx)
				wantContent, wantCalls, wantBad := f.Parse(fx.text)
				var bytes []string
				for i := 0; i < len(fx.text); i++ {
					bytes = append(bytes, fx.text[i:i+1])
				}
				splits := [][]string{{fx.text}, bytes}
				for try := 0; try < 20; try++ {
					var chunks []string
					for rest := fx.text; rest != ""; {
						n := 1 + rng.Intn(8)
						n = min(n, len(rest))
						chunks = append(chunks, rest[:n])
						rest = rest[n:]
					}
					splits = append(splits, chunks)
				}
				for _, pieces := range splits {
					vis, s := feedAll(f, pieces)
					if vis != want {
						t.Fatalf("fed in %d pieces: visible %q, want %q", len(pieces), vis, want)
					}
					callish := len(wantCalls) > 0 || len(wantBad) > 0
					if callish && !s.InCall() {
						t.Errorf("fed in %d pieces: InCall is false after a call", len(pieces))
					}
					content, calls, bad := s.Finish()
					if content != wantContent || !reflect.DeepEqual(calls, wantCalls) || !reflect.DeepEqual(bad, wantBad) {
						t.Errorf("Finish = %q %v %v, Parse = %q %v %v", content, calls, bad, wantContent, wantCalls, wantBad)
					}
				}
			})
		}
	}
}

// A '<' that could start a marker is held only until the next bytes rule
// the marker out.
func TestStreamHoldsOnlyMarkerPrefixes(t *testing.T) {
	f, _ := ByName("hermes")
	s := f.NewStream()
	steps := []struct{ in, out string }{
		{"a <", "a "},
		{"t", ""},
		{"o", ""},
		{"x", "<tox"},
		{" <tool_c", " "},
		{"all>", ""},
		{"{}", ""},
	}
	for _, st := range steps {
		if got := s.Feed(st.in); got != st.out {
			t.Fatalf("Feed(%q) = %q, want %q", st.in, got, st.out)
		}
	}
	if !s.InCall() {
		t.Error("not in a call after <tool_call>")
	}

	l, _ := ByName("llama3")
	s = l.NewStream()
	if got := s.Feed(" {"); got != "" || s.InCall() {
		t.Errorf(`llama3 Feed(" {") = %q, InCall %v; want held`, got, s.InCall())
	}
	if got := s.Feed("1, 2} is a set"); got != " {1, 2} is a set" || s.InCall() {
		t.Errorf("llama3 prose = %q, InCall %v", got, s.InCall())
	}

	h, _ := ByName("harmony")
	s = h.NewStream()
	got := s.Feed("<|channel|>commentary<|mess") + s.Feed("age|>Checking") + s.Feed("<|end|><|start|>assistant<|channel|>commentary t")
	if got != "Checking" || s.InCall() {
		t.Errorf("harmony preamble = %q, InCall %v", got, s.InCall())
	}
	s.Feed("o=functions.x")
	if !s.InCall() {
		t.Error("harmony: a header with a recipient did not start a call")
	}
}

func TestGrammar(t *testing.T) {
	names := []string{"get_weather", "read_file"}
	prose := []string{"", "Hello there.", "The weather is nice today.", "{}", "<tool_call>"}
	for _, name := range Names() {
		f, _ := ByName(name)
		t.Run(name, func(t *testing.T) {
			src, err := f.Grammar(names)
			if err != nil {
				t.Fatal(err)
			}
			g, err := grammar.Parse(src)
			if err != nil {
				t.Fatalf("the grammar does not parse: %v\n%s", err, src)
			}
			singles := 0
			for _, fx := range fixtures[name] {
				switch {
				case fx.single:
					singles++
					if !g.MatchString(fx.text) {
						t.Errorf("the grammar rejects the single call %s: %q", fx.name, fx.text)
					}
				case fx.name == "parallel" || fx.name == "before" || fx.name == "prose" || fx.bad > 0:
					if g.MatchString(fx.text) {
						t.Errorf("the grammar accepts %s: %q", fx.name, fx.text)
					}
				}
			}
			if singles == 0 {
				t.Error("no single-call fixtures")
			}
			for _, p := range prose {
				if g.MatchString(p) {
					t.Errorf("the grammar accepts prose %q", p)
				}
			}
			// Only the named tools.
			other := strings.ReplaceAll(fixtures[name][0].text, "get_weather", "delete_all")
			if g.MatchString(other) {
				t.Errorf("the grammar accepts a call of an unnamed tool: %q", other)
			}
		})
	}
	f, _ := ByName("hermes")
	for _, bad := range [][]string{nil, {""}, {"a b"}, {"x>"}} {
		if _, err := f.Grammar(bad); err == nil {
			t.Errorf("Grammar(%q) did not fail", bad)
		}
	}
}
