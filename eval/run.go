package eval

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"natter/engine/api"
	"natter/prompts"
)

// DefaultMaxTokens caps a reply when neither the case, the suite nor the
// command sets a limit: a model that never stops must not stall a run.
const DefaultMaxTokens = 256

// Target is one cell ready to run: the model behind it and how requests
// are built for it.
type Target struct {
	Cell Cell
	Gen  api.Generator
	// Template formats the messages; nil = the generator's own (a remote
	// server always applies its own).
	Template prompts.ChatTemplate
	// System replaces the cases' system prompts when set (a persona).
	System    string
	Sampling  api.Sampling
	MaxTokens int // when a case gives none; <= 0: DefaultMaxTokens
}

// Judge grades replies against a case's rubric with another model.
type Judge struct {
	Gen      api.Generator
	Template prompts.ChatTemplate
	Name     string
}

// Options are the settings of a whole run.
type Options struct {
	Runs  int    // repetitions of each case; < 1 means 1
	Judge *Judge // nil: judge cases are skipped, not scored
	// Progress is called after every graded reply.
	Progress func(r CaseResult)
}

// RunCell runs every case of s (Runs times) on t. When ctx is cancelled
// it stops and returns the replies finished so far, with ctx's error.
func RunCell(ctx context.Context, s *Suite, t Target, o Options) (CellResult, error) {
	res := CellResult{Cell: t.Cell}
	runs := max(o.Runs, 1)
	for run := range runs {
		for i := range s.Cases {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			r := runCase(ctx, &s.Cases[i], i, run, t, o.Judge)
			if ctx.Err() != nil {
				// A reply cut by the interrupt is not a result.
				return res, ctx.Err()
			}
			res.Results = append(res.Results, r)
			if o.Progress != nil {
				o.Progress(r)
			}
		}
	}
	return res, nil
}

// messages builds the conversation a case sends.
func messages(c *Case, system string) []prompts.Message {
	if system == "" {
		system = c.System
	}
	var ms []prompts.Message
	if system != "" {
		ms = append(ms, prompts.Message{Role: prompts.RoleSystem, Content: system})
	}
	if len(c.Messages) > 0 {
		for _, m := range c.Messages {
			if m.Role == prompts.RoleSystem && system != "" && len(ms) > 0 {
				continue // the persona's or the case's system prompt stands
			}
			ms = append(ms, m)
		}
		return ms
	}
	return append(ms, prompts.Message{Role: prompts.RoleUser, Content: c.Input})
}

func runCase(ctx context.Context, c *Case, idx, run int, t Target, judge *Judge) CaseResult {
	r := CaseResult{Case: c.ID, Index: idx, Run: run, Tags: c.Tags}
	if c.Check.Kind == CheckJudge && judge == nil {
		r.Skipped, r.Reason = true, "judge case: give --judge MODEL to grade it"
		return r
	}
	maxTokens := c.MaxTokens
	if maxTokens <= 0 {
		maxTokens = t.MaxTokens
	}
	if maxTokens <= 0 {
		maxTokens = DefaultMaxTokens
	}
	req := api.Request{
		Messages: messages(c, t.System), Template: t.Template,
		Sampling: t.Sampling, MaxTokens: maxTokens, NoDrop: true,
		Grammar: c.Check.Grammar, JSONSchema: c.Check.GrammarSchema,
	}
	if c.Grammar != "" {
		req.Grammar = c.Grammar
	}
	reply, stats, err := generate(ctx, t.Gen, req)
	r.Output, r.Reasoning = reply.answer, reply.reasoning
	if stats != nil {
		r.PromptTokens, r.CachedTokens, r.GeneratedTokens = stats.PromptTokens, stats.CachedTokens, stats.GeneratedTokens
		r.TTFT, r.PrefillTime, r.DecodeTime = stats.TTFT, stats.PrefillTime, stats.DecodeTime
		r.StopReason = stats.StopReason
	}
	if err != nil {
		r.Err = err.Error()
		r.Reason = "generation failed: " + oneLine(err.Error())
		return r
	}
	if c.Check.Kind == CheckJudge {
		v, score, err := judge.grade(ctx, c, r.Output)
		if err != nil {
			r.Err = err.Error()
			r.Reason = "the judge failed: " + oneLine(err.Error())
			return r
		}
		r.Pass, r.Score, r.Reason = v.Pass, score, v.Reason
		return r
	}
	v := Grade(c.Check, r.Output)
	r.Pass, r.Reason, r.Predicted = v.Pass, v.Reason, v.Predicted
	if c.Check.Kind == CheckChoice {
		r.Expected = c.Check.Label
	}
	if v.Pass {
		r.Score = 1
	}
	return r
}

type reply struct{ answer, reasoning string }

// generate runs one request to the end and splits reasoning from the
// answer the way the chat shows them.
func generate(ctx context.Context, g api.Generator, req api.Request) (reply, *api.Stats, error) {
	var split prompts.Splitter
	text, _, err := g.RenderPrompt(req)
	if err != nil {
		return reply{}, nil, err
	}
	if closeTag, ok := prompts.PromptOpensReasoning(text); ok {
		split.StartInReasoning(closeTag)
	}
	ch, err := g.Generate(ctx, req)
	if err != nil {
		return reply{}, nil, err
	}
	var answer, thought strings.Builder
	var stats *api.Stats
	var genErr error
	for ev := range ch {
		switch ev.Kind {
		case api.EventText:
			a, th := split.Feed(ev.Text)
			answer.WriteString(a)
			thought.WriteString(th)
		case api.EventDone:
			stats = ev.Stats
		case api.EventError:
			genErr = ev.Err
		}
	}
	a, th := split.Flush()
	answer.WriteString(a)
	thought.WriteString(th)
	out := reply{answer: answer.String(), reasoning: thought.String()}
	if genErr == nil && stats == nil {
		genErr = errors.New("the stream ended without a result")
	}
	return out, stats, genErr
}

// Warmup runs one short generation so the first case's timings do not
// include the engine's first-call costs (as llama-bench's warm-up run).
func Warmup(ctx context.Context, g api.Generator, t prompts.ChatTemplate) error {
	req := api.Request{Messages: []prompts.Message{{Role: prompts.RoleUser, Content: "Hello"}},
		Template: t, Sampling: Greedy(), MaxTokens: 2}
	_, _, err := generate(ctx, g, req)
	return err
}

// judgeSystem tells the grading model what to do. A verdict on the first
// line keeps parsing simple for small judges.
const judgeSystem = "You grade answers. Read the rubric, the question and the answer. " +
	"Reply with PASS or FAIL on the first line, then one short sentence saying why."

// grade asks the judge about one reply.
func (j *Judge) grade(ctx context.Context, c *Case, answer string) (Verdict, float64, error) {
	question := c.Input
	if len(c.Messages) > 0 {
		question = c.Messages[len(c.Messages)-1].Content
	}
	user := fmt.Sprintf("Rubric:\n%s\n\nQuestion:\n%s\n\nAnswer:\n%s", c.Check.Rubric, question, answer)
	req := api.Request{
		Messages: []prompts.Message{
			{Role: prompts.RoleSystem, Content: judgeSystem},
			{Role: prompts.RoleUser, Content: user},
		},
		Template: j.Template, Sampling: Greedy(), MaxTokens: 128, NoDrop: true,
	}
	out, _, err := generate(ctx, j.Gen, req)
	if err != nil {
		return Verdict{}, 0, err
	}
	return judgeVerdict(out.answer)
}

// judgeVerdict reads PASS or FAIL from a judge's words: the first of them
// that appears decides.
func judgeVerdict(s string) (Verdict, float64, error) {
	why := oneLine(s)
	switch FindLabel(s, []string{"PASS", "FAIL"}, true) {
	case "PASS":
		return Verdict{Pass: true, Reason: "judge: " + why}, 1, nil
	case "FAIL":
		return Verdict{Reason: "judge: " + why}, 0, nil
	}
	return Verdict{Reason: "the judge gave no verdict: " + quote(s)}, 0, nil
}

// Greedy is the sampling eval uses unless told otherwise, so runs repeat.
func Greedy() api.Sampling {
	s := api.DefaultSampling()
	s.Temperature, s.Seed = 0, 42
	return s
}

// Remaining estimates the time left from the pace so far.
func Remaining(start time.Time, done, total int) time.Duration {
	if done == 0 || done >= total {
		return 0
	}
	per := time.Since(start) / time.Duration(done)
	return (per * time.Duration(total-done)).Round(time.Second)
}
