package eval_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"natter/engine"
	"natter/engine/gguf/synth"
	"natter/eval"
	"natter/prompts"
	"natter/remote"
	"natter/serve"
)

const stories = "../../shared/models/stories260K.gguf"

// openModel loads a real model with its template chain, as natter eval does.
func openModel(t *testing.T, path string) (engine.Model, prompts.ChatTemplate) {
	t.Helper()
	e, err := engine.Open(engine.Options{ModelPath: path, ContextSize: 512, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	info := e.Info()
	chain, err := prompts.BuildChain(prompts.ChainConfig{ModelTemplate: info.ChatTemplate,
		Options: prompts.JinjaOptions{BOS: info.BOS, EOS: info.EOS}, Builtin: e.BuiltinTemplate()})
	if err != nil {
		t.Fatal(err)
	}
	return e, chain
}

// models are the two the runner is tested on: the trained stories260K
// (when present) and a generated random-weight llama.
func models(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	if _, err := os.Stat(stories); err == nil {
		out["stories260K"] = stories
	} else {
		t.Logf("%s is absent: the stories260K half of this test did not run", stories)
	}
	spec := synth.Tiny()
	spec.Name, spec.ChatTemplate = "synth-chat", synth.ChatML
	p := filepath.Join(t.TempDir(), "synth.gguf")
	if err := synth.Write(p, spec); err != nil {
		t.Fatal(err)
	}
	out["synth"] = p
	return out
}

var inputs = []string{"Once upon a time", "The little dog", "Lily went to the park", "Tom had a red ball", "One day, a bird", "The sun was"}

func writeSuite(t *testing.T, name, body string) *eval.Suite {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := eval.Load(p)
	if err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	return s
}

// probe runs the inputs once with a check that always passes, to learn
// each greedy reply.
func probe(t *testing.T, tg eval.Target) []string {
	t.Helper()
	var b strings.Builder
	b.WriteString("name: probe\nmax_tokens: 20\ncases:\n")
	for _, in := range inputs {
		fmt.Fprintf(&b, "  - input: %q\n    regex: '(?s).*'\n", in)
	}
	res, err := eval.RunCell(context.Background(), writeSuite(t, "probe.yaml", b.String()), tg, eval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range res.Results {
		if !r.Pass || r.Err != "" || r.GeneratedTokens == 0 {
			t.Fatalf("probe: %+v", r)
		}
		out = append(out, r.Output)
	}
	return out
}

var wordRE = regexp.MustCompile(`[A-Za-z]{2,}`)

// derived builds a suite whose every check was written from the greedy
// replies, one check kind per case; perturb names the cases whose
// expectation is made wrong.
func derived(t *testing.T, replies []string, perturb map[string]bool) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("name: derived\nmax_tokens: 20\ncases:\n")
	bad := func(id, good, wrong string) string {
		if perturb[id] {
			return wrong
		}
		return good
	}
	for i, r := range replies {
		words := wordRE.FindAllString(r, -1)
		if len(words) < 2 {
			t.Fatalf("reply %d has too few words to derive checks from: %q", i, r)
		}
		trimmed := strings.TrimSpace(r)
		id := fmt.Sprintf("c%d", i)
		fmt.Fprintf(&b, "  - id: %s\n    input: %q\n    tags: [%s]\n", id, inputs[i], []string{"even", "odd"}[i%2])
		switch i {
		case 0:
			fmt.Fprintf(&b, "    exact: %q\n", bad(id, trimmed, trimmed+" and then"))
		case 1:
			fmt.Fprintf(&b, "    contains: [%q, %q]\n", words[0], bad(id, words[1], "xylophonequartz"))
		case 2:
			fmt.Fprintf(&b, "    contains_any: [%q, %q]\n", "xylophonequartz", bad(id, words[0], "zebracrossing"))
		case 3:
			fmt.Fprintf(&b, "    regex: %q\n", bad(id, "^"+regexp.QuoteMeta(trimmed[:min(8, len(trimmed))]), "^ZZZ"))
		case 4:
			fmt.Fprintf(&b, "    labels: [%q, xylophonequartz]\n    choice: %q\n", words[0], bad(id, words[0], "xylophonequartz"))
		case 5:
			// No random model writes JSON: the json check must fail here,
			// and say why.
			fmt.Fprintf(&b, "    json: true\n")
		}
	}
	return b.String()
}

func TestRunOnRealModels(t *testing.T) {
	for name, path := range models(t) {
		t.Run(name, func(t *testing.T) {
			e, chain := openModel(t, path)
			tg := eval.Target{Cell: eval.Cell{Model: name, Backend: e.Info().Backend}, Gen: e, Template: chain, Sampling: eval.Greedy()}
			replies := probe(t, tg)

			// Greedy expectations pass, except the json case no model here
			// can pass.
			good := writeSuite(t, "good.yaml", derived(t, replies, nil))
			res, err := eval.RunCell(context.Background(), good, tg, eval.Options{Runs: 2})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Results) != 2*len(inputs) {
				t.Fatalf("%d results", len(res.Results))
			}
			for _, r := range res.Results {
				wantPass := r.Case != "c5"
				if r.Pass != wantPass {
					t.Errorf("%s run %d: pass %v (%s), output %q", r.Case, r.Run, r.Pass, r.Reason, r.Output)
				}
				if r.Output != replies[r.Index] {
					t.Errorf("%s run %d: output %q differs from the probe's %q: greedy runs must repeat", r.Case, r.Run, r.Output, replies[r.Index])
				}
				if r.GeneratedTokens == 0 || r.PromptTokens == 0 || r.TTFT <= 0 || r.DecodeTime <= 0 {
					t.Errorf("%s: no timing %+v", r.Case, r)
				}
			}
			if c5 := res.Results[5]; !strings.Contains(c5.Reason, "no JSON value") {
				t.Errorf("json case reason %q", c5.Reason)
			}

			// A perturbed suite fails exactly the perturbed cases.
			perturb := map[string]bool{"c0": true, "c3": true, "c4": true}
			bad := writeSuite(t, "bad.yaml", derived(t, replies, perturb))
			res2, err := eval.RunCell(context.Background(), bad, tg, eval.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var failed []string
			for _, r := range res2.Results {
				if !r.Pass {
					failed = append(failed, r.Case)
				}
			}
			if strings.Join(failed, ",") != "c0,c3,c4,c5" {
				t.Fatalf("failed %v, want the perturbed c0,c3,c4 and the json c5", failed)
			}
			if r := res2.Results[4]; r.Expected != "xylophonequartz" || r.Predicted == "" {
				t.Errorf("choice: expected %q predicted %q", r.Expected, r.Predicted)
			}

			// The table and the JSON say the same.
			res2.Cell.Persona = "perturbed"
			run := &eval.Run{Suite: "derived", Runs: 1, Complete: true, Cells: []eval.CellResult{res2, res}}
			rep := eval.NewReport(run, len(inputs))
			var js, txt bytes.Buffer
			if err := rep.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			if err := rep.WriteText(&txt); err != nil {
				t.Fatal(err)
			}
			var back struct {
				Cells []struct {
					Label  string  `json:"label"`
					Score  float64 `json:"score"`
					Passed int     `json:"passed"`
					Scored int     `json:"scored"`
				} `json:"cells"`
				Results [][]struct {
					Case string `json:"case"`
					Pass bool   `json:"pass"`
				} `json:"results"`
			}
			if err := json.Unmarshal(js.Bytes(), &back); err != nil {
				t.Fatal(err)
			}
			if len(back.Cells) != 2 || back.Cells[0].Passed != 2 || back.Cells[0].Scored != 6 || back.Cells[1].Passed != 10 || back.Cells[1].Scored != 12 {
				t.Fatalf("json cells %+v", back.Cells)
			}
			for _, c := range back.Cells {
				row := fmt.Sprintf("%.1f%%", 100*c.Score)
				line := ""
				for _, l := range strings.Split(txt.String(), "\n") {
					if strings.HasPrefix(l, c.Label+" ") {
						line = l
					}
				}
				if !strings.Contains(line, row) || !strings.Contains(line, fmt.Sprintf("%d/%d", c.Passed, c.Scored)) {
					t.Errorf("table row %q does not show %s and %d/%d", line, row, c.Passed, c.Scored)
				}
			}
			if want := "\nbest: " + name + " — 83.3%"; !strings.Contains(txt.String(), want) {
				t.Errorf("table lacks %q:\n%s", want, txt.String())
			}
			for _, id := range failed {
				if !strings.Contains(txt.String(), "  "+id+": ") {
					t.Errorf("table failure list lacks %s:\n%s", id, txt.String())
				}
			}
		})
	}
}

func TestInterruptKeepsFinishedCases(t *testing.T) {
	e, chain := openModel(t, models(t)["synth"])
	var b strings.Builder
	b.WriteString("cases:\n")
	for _, in := range inputs {
		fmt.Fprintf(&b, "  - input: %q\n    regex: .\n", in)
	}
	s := writeSuite(t, "s.yaml", b.String())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	res, err := eval.RunCell(ctx, s, eval.Target{Gen: e, Template: chain, Sampling: eval.Greedy(), MaxTokens: 8}, eval.Options{Progress: func(eval.CaseResult) {
		if n++; n == 2 {
			cancel()
		}
	}})
	if err != context.Canceled || len(res.Results) != 2 {
		t.Fatalf("err %v, %d results", err, len(res.Results))
	}
}

// TestJudgeRunsARealModel: a judge case is skipped without a judge, and
// graded by a real generation with one (a random-weight judge gives no
// verdict, so the case fails and says so).
func TestJudgeRunsARealModel(t *testing.T) {
	ms := models(t)
	e, chain := openModel(t, ms["synth"])
	s := writeSuite(t, "j.yaml", "cases:\n  - input: Once upon a time\n    max_tokens: 8\n    judge: The story must mention a dog.\n")
	tg := eval.Target{Gen: e, Template: chain, Sampling: eval.Greedy()}
	res, err := eval.RunCell(context.Background(), s, tg, eval.Options{})
	if err != nil || len(res.Results) != 1 || !res.Results[0].Skipped || res.Results[0].GeneratedTokens != 0 {
		t.Fatalf("without a judge: %v %+v", err, res.Results)
	}
	judge, jchain := openModel(t, ms["synth"])
	res, err = eval.RunCell(context.Background(), s, tg, eval.Options{Judge: &eval.Judge{Gen: judge, Template: jchain}})
	if err != nil || len(res.Results) != 1 {
		t.Fatal(err)
	}
	r := res.Results[0]
	if r.Skipped || r.Pass || r.GeneratedTokens == 0 || !strings.Contains(r.Reason, "judge") {
		t.Fatalf("with a judge: %+v", r)
	}
}

// TestRemoteCellMatchesLocal: the same suite through natter serve (the
// remote backend) gives the local engine's replies.
func TestRemoteCellMatchesLocal(t *testing.T) {
	e, chain := openModel(t, models(t)["synth"])
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := serve.NewHTTPServer(serve.New(serve.Config{Model: e, ModelID: "synth-chat", Template: chain, Sampling: eval.Greedy()}).Handler(), nil)
	go srv.Serve(ln)
	defer srv.Close()
	ep, _, err := remote.Resolve("openai://"+ln.Addr().String()+"/synth-chat", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := remote.Open(context.Background(), ep, remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("system: You tell stories.\nmax_tokens: 16\ncases:\n")
	for _, in := range inputs[:3] {
		fmt.Fprintf(&b, "  - input: %q\n    regex: .\n", in)
	}
	s := writeSuite(t, "r.yaml", b.String())
	local, err := eval.RunCell(context.Background(), s, eval.Target{Gen: e, Template: chain, Sampling: eval.Greedy()}, eval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rem, err := eval.RunCell(context.Background(), s, eval.Target{Gen: c, Sampling: eval.Greedy()}, eval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range local.Results {
		l, r := local.Results[i], rem.Results[i]
		if r.Err != "" || l.Output != r.Output || l.GeneratedTokens != r.GeneratedTokens || r.TTFT <= 0 {
			t.Errorf("case %d: local %q (%d tokens), remote %q (%d tokens, err %q)", i, l.Output, l.GeneratedTokens, r.Output, r.GeneratedTokens, r.Err)
		}
	}
}

// With a grammar (or json's constrain) the json and number checks pass on
// real generations: expectations taken from a greedy run pass, perturbed
// ones fail, with the reason.
func TestConstrainedChecksOnRealModels(t *testing.T) {
	for name, path := range models(t) {
		t.Run(name, func(t *testing.T) {
			e, chain := openModel(t, path)
			tg := eval.Target{Cell: eval.Cell{Model: name, Backend: e.Info().Backend}, Gen: e, Template: chain, Sampling: eval.Greedy()}
			const schema = `{type: object, properties: {mood: {enum: [happy, sad, cross]}, n: {type: integer, minimum: 1, maximum: 99}}, required: [mood, n], additionalProperties: false}`
			suite := func(mood, n string) string {
				return "name: constrained\nmax_tokens: 60\ncases:\n" +
					"  - id: j\n    input: How do you feel?\n    json: {schema: " + schema + ", constrain: true" + mood + "}\n" +
					"  - id: n\n    input: Pick a number\n    grammar: 'root ::= [1-9] [0-9]?'\n    " + n + "\n"
			}
			probe, err := eval.RunCell(context.Background(), writeSuite(t, "probe.yaml", suite("", "regex: '^[0-9]+$'")), tg, eval.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var v struct {
				Mood string
				N    int
			}
			for _, r := range probe.Results {
				if !r.Pass {
					t.Fatalf("%s: %s (%q)", r.Case, r.Reason, r.Output)
				}
			}
			if err := json.Unmarshal([]byte(probe.Results[0].Output), &v); err != nil || v.Mood == "" {
				t.Fatalf("constrained reply %q: %v", probe.Results[0].Output, err)
			}
			num := strings.TrimSpace(probe.Results[1].Output)
			good, err := eval.RunCell(context.Background(), writeSuite(t, "good.yaml", suite(", fields: {mood: "+v.Mood+", n: "+fmt.Sprint(v.N)+"}", "number: "+num)), tg, eval.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range good.Results {
				if !r.Pass {
					t.Errorf("%s: %s (%q)", r.Case, r.Reason, r.Output)
				}
			}
			bad, err := eval.RunCell(context.Background(), writeSuite(t, "bad.yaml", suite(", fields: {n: "+fmt.Sprint(v.N+1)+"}", "number: 1000")), tg, eval.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range bad.Results {
				if r.Pass || r.Reason == "" {
					t.Errorf("perturbed %s passed (%q)", r.Case, r.Output)
				}
			}
			t.Logf("json %s, number %s; perturbed: %s / %s", probe.Results[0].Output, num, bad.Results[0].Reason, bad.Results[1].Reason)
		})
	}
}
