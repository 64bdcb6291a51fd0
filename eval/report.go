package eval

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Summary is the figures of one cell a user decides on.
type Summary struct {
	Cell    Cell    `json:"cell"`
	Label   string  `json:"label"`
	Score   float64 `json:"score"` // mean score over scored replies, 0..1
	Passed  int     `json:"passed"`
	Scored  int     `json:"scored"`
	Skipped int     `json:"skipped"`
	Errors  int     `json:"errors"` // replies whose generation failed
	// Tags is the score per tag, in the order tags first appear.
	Tags            []TagScore    `json:"tags,omitempty"`
	TTFT            time.Duration `json:"ttft_ns"` // mean
	PrefillTPS      float64       `json:"prefill_tps"`
	DecodeTPS       float64       `json:"decode_tps"`
	PromptTokens    int           `json:"prompt_tokens"`
	GeneratedTokens int           `json:"generated_tokens"`
	PeakRSS         int64         `json:"peak_rss_bytes"`
	Failures        []CaseResult  `json:"failures,omitempty"`
	Confusion       *Confusion    `json:"confusion,omitempty"`
	LoadErr         string        `json:"load_error,omitempty"`
}

// TagScore is a cell's score over the cases of one tag.
type TagScore struct {
	Tag    string  `json:"tag"`
	Score  float64 `json:"score"`
	Scored int     `json:"scored"`
}

// Confusion counts choice predictions: Counts[expected][predicted], with
// "" for a reply that named no label.
type Confusion struct {
	Labels   []string                  `json:"labels"`
	Counts   map[string]map[string]int `json:"counts"`
	Accuracy float64                   `json:"accuracy"`
}

// Summarize computes a cell's figures.
func Summarize(c CellResult) Summary {
	s := Summary{Cell: c.Cell, Label: c.Cell.Label(), PeakRSS: c.PeakRSS, LoadErr: c.LoadErr}
	s.Score = MeanScore(c.Results)
	var ttft, prefill, decode time.Duration
	var timed, prefillTokens int
	tagSum := map[string]float64{}
	tagN := map[string]int{}
	var tagOrder []string
	var conf *Confusion
	choiceRight, choiceN := 0, 0
	for _, r := range c.Results {
		if r.Skipped {
			s.Skipped++
			continue
		}
		s.Scored++
		if r.Pass {
			s.Passed++
		} else {
			s.Failures = append(s.Failures, r)
		}
		if r.Err != "" {
			s.Errors++
		}
		for _, t := range r.Tags {
			if _, ok := tagN[t]; !ok {
				tagOrder = append(tagOrder, t)
			}
			tagN[t]++
			tagSum[t] += r.Score
		}
		s.PromptTokens += r.PromptTokens
		s.GeneratedTokens += r.GeneratedTokens
		if r.GeneratedTokens > 0 || r.TTFT > 0 {
			ttft += r.TTFT
			timed++
		}
		if r.PrefillTime > 0 {
			// Tokens reused from the cache (a shared system prompt) were
			// not processed, so they do not count toward the rate.
			prefill += r.PrefillTime
			prefillTokens += r.PromptTokens - r.CachedTokens
		}
		decode += r.DecodeTime
		if r.Expected != "" {
			if conf == nil {
				conf = &Confusion{Counts: map[string]map[string]int{}}
			}
			if conf.Counts[r.Expected] == nil {
				conf.Counts[r.Expected] = map[string]int{}
			}
			conf.Counts[r.Expected][r.Predicted]++
			for _, l := range []string{r.Expected, r.Predicted} {
				if l != "" && !slices.Contains(conf.Labels, l) {
					conf.Labels = append(conf.Labels, l)
				}
			}
			choiceN++
			if r.Pass {
				choiceRight++
			}
		}
	}
	for _, t := range tagOrder {
		s.Tags = append(s.Tags, TagScore{Tag: t, Score: tagSum[t] / float64(tagN[t]), Scored: tagN[t]})
	}
	if timed > 0 {
		s.TTFT = ttft / time.Duration(timed)
	}
	if prefill > 0 {
		s.PrefillTPS = float64(prefillTokens) / prefill.Seconds()
	}
	if decode > 0 {
		s.DecodeTPS = float64(s.GeneratedTokens) / decode.Seconds()
	}
	if conf != nil {
		conf.Accuracy = float64(choiceRight) / float64(choiceN)
		s.Confusion = conf
	}
	return s
}

// Best is the index of the cell with the highest score (ties: the faster
// decode, then the smaller peak RSS), or -1 when no cell scored above 0.
func Best(ss []Summary) int {
	best := -1
	for i, s := range ss {
		if s.Scored == 0 || s.Score == 0 {
			continue
		}
		if best < 0 {
			best = i
			continue
		}
		b := ss[best]
		switch {
		case s.Score > b.Score,
			s.Score == b.Score && s.DecodeTPS > b.DecodeTPS,
			s.Score == b.Score && s.DecodeTPS == b.DecodeTPS && s.PeakRSS > 0 && s.PeakRSS < b.PeakRSS:
			best = i
		}
	}
	return best
}

// Report is a run with its summaries: what --json writes.
type Report struct {
	ID        int64      `json:"id,omitempty"`
	Suite     string     `json:"suite"`
	SuitePath string     `json:"suite_path"`
	SuiteHash string     `json:"suite_hash"`
	Started   time.Time  `json:"started"`
	Finished  time.Time  `json:"finished,omitzero"`
	Runs      int        `json:"runs"`
	Complete  bool       `json:"complete"`
	Cases     int        `json:"cases"`
	Best      string     `json:"best,omitempty"`
	Cells     []Summary  `json:"cells"`
	Results   [][]Result `json:"results"` // per cell, every reply
}

// Result is one reply as --json writes it.
type Result struct {
	Case            string   `json:"case"`
	Run             int      `json:"run"`
	Tags            []string `json:"tags,omitempty"`
	Pass            bool     `json:"pass"`
	Skipped         bool     `json:"skipped,omitempty"`
	Score           float64  `json:"score"`
	Reason          string   `json:"reason,omitempty"`
	Output          string   `json:"output"`
	Reasoning       string   `json:"reasoning,omitempty"`
	Expected        string   `json:"expected_label,omitempty"`
	Predicted       string   `json:"predicted_label,omitempty"`
	Error           string   `json:"error,omitempty"`
	PromptTokens    int      `json:"prompt_tokens"`
	GeneratedTokens int      `json:"generated_tokens"`
	TTFTms          float64  `json:"ttft_ms"`
	StopReason      string   `json:"stop_reason,omitempty"`
}

// NewReport summarizes a run.
func NewReport(r *Run, cases int) Report {
	rep := Report{ID: r.ID, Suite: r.Suite, SuitePath: r.SuitePath, SuiteHash: r.SuiteHash,
		Started: r.Started, Finished: r.Finished, Runs: r.Runs, Complete: r.Complete, Cases: cases}
	for _, c := range r.Cells {
		rep.Cells = append(rep.Cells, Summarize(c))
		rs := make([]Result, 0, len(c.Results))
		for _, x := range c.Results {
			rs = append(rs, Result{Case: x.Case, Run: x.Run, Tags: x.Tags, Pass: x.Pass, Skipped: x.Skipped,
				Score: x.Score, Reason: x.Reason, Output: x.Output, Reasoning: x.Reasoning,
				Expected: x.Expected, Predicted: x.Predicted, Error: x.Err,
				PromptTokens: x.PromptTokens, GeneratedTokens: x.GeneratedTokens,
				TTFTms: float64(x.TTFT) / 1e6, StopReason: x.StopReason})
		}
		rep.Results = append(rep.Results, rs)
	}
	if b := Best(rep.Cells); b >= 0 && len(rep.Cells) > 1 {
		rep.Best = rep.Cells[b].Label
	}
	return rep
}

// WriteJSON writes the report as one indented JSON document.
func (rep Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// maxFailures is how many failures per cell the text report lists.
const maxFailures = 5

// WriteText writes the table a user reads in a terminal.
func (rep Report) WriteText(w io.Writer) error {
	var b strings.Builder
	state := ""
	if !rep.Complete {
		state = " — incomplete"
	}
	runs := ""
	if rep.Runs > 1 {
		runs = fmt.Sprintf(" × %d runs", rep.Runs)
	}
	fmt.Fprintf(&b, "%s: %d cases%s%s", rep.Suite, rep.Cases, runs, state)
	if rep.ID > 0 {
		fmt.Fprintf(&b, " (run %d)", rep.ID)
	}
	b.WriteString("\n\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL · PERSONA · TEMPLATE\tSCORE\tPASSED\tTTFT\tPREFILL\tDECODE\tPEAK RSS\tTOKENS\t")
	best := Best(rep.Cells)
	for i, s := range rep.Cells {
		mark := ""
		if i == best && len(rep.Cells) > 1 {
			mark = " ★"
		}
		if s.LoadErr != "" {
			fmt.Fprintf(tw, "%s\tnot run\t\t\t\t\t\t\t\n", s.Label)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s%s\t%d/%d\t%s\t%s\t%s\t%s\t%d\t\n", s.Label, pct(s.Score, s.Scored), mark,
			s.Passed, s.Scored, ms(s.TTFT), tps(s.PrefillTPS), tps(s.DecodeTPS), mib(s.PeakRSS), s.GeneratedTokens)
	}
	tw.Flush()
	if tags := tagNames(rep.Cells); len(tags) > 0 {
		b.WriteString("\nby tag:\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprint(tw, "  TAG\t")
		for _, s := range rep.Cells {
			fmt.Fprintf(tw, "%s\t", s.Label)
		}
		fmt.Fprintln(tw)
		for _, t := range tags {
			fmt.Fprintf(tw, "  %s\t", t)
			for _, s := range rep.Cells {
				fmt.Fprintf(tw, "%s\t", tagScore(s, t))
			}
			fmt.Fprintln(tw)
		}
		tw.Flush()
	}
	if best >= 0 && len(rep.Cells) > 1 {
		s := rep.Cells[best]
		fmt.Fprintf(&b, "\nbest: %s — %s, %s decode, %s peak RSS\n", s.Label, pct(s.Score, s.Scored), tps(s.DecodeTPS), mib(s.PeakRSS))
	}
	for _, s := range rep.Cells {
		if s.LoadErr != "" {
			fmt.Fprintf(&b, "\n%s did not run: %s\n", s.Label, s.LoadErr)
			continue
		}
		if s.Skipped > 0 {
			fmt.Fprintf(&b, "\n%s: %d judge cases skipped (give --judge MODEL to grade them)\n", s.Label, s.Skipped)
		}
		if len(s.Failures) > 0 {
			fmt.Fprintf(&b, "\nfailures — %s (%d):\n", s.Label, len(s.Failures))
			for i, f := range s.Failures {
				if i == maxFailures {
					fmt.Fprintf(&b, "  … and %d more (--json lists every reply)\n", len(s.Failures)-maxFailures)
					break
				}
				fmt.Fprintf(&b, "  %s%s: %s\n", f.Case, runSuffix(f.Run, rep.Runs), f.Reason)
			}
		}
		if s.Confusion != nil && len(s.Confusion.Labels) > 0 {
			writeConfusion(&b, s)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeConfusion(b *strings.Builder, s Summary) {
	c := s.Confusion
	fmt.Fprintf(b, "\nconfusion — %s, accuracy %.1f%% (rows: expected, columns: predicted):\n", s.Label, 100*c.Accuracy)
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "\t")
	cols := append(slices.Clone(c.Labels), "")
	for _, l := range cols {
		fmt.Fprintf(tw, "%s\t", labelName(l))
	}
	fmt.Fprintln(tw)
	for _, row := range c.Labels {
		if c.Counts[row] == nil {
			continue
		}
		fmt.Fprintf(tw, "%s\t", row)
		for _, col := range cols {
			fmt.Fprintf(tw, "%d\t", c.Counts[row][col])
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

func labelName(l string) string {
	if l == "" {
		return "(none)"
	}
	return l
}

// WriteMarkdown writes the report for a pull request or a wiki page.
func (rep Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s — %d cases", mdEscape(rep.Suite), rep.Cases)
	if rep.Runs > 1 {
		fmt.Fprintf(&b, " × %d runs", rep.Runs)
	}
	if !rep.Complete {
		b.WriteString(" (incomplete)")
	}
	b.WriteString("\n\n| model · persona · template | score | passed | TTFT | prefill | decode | peak RSS | tokens |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|\n")
	best := Best(rep.Cells)
	for i, s := range rep.Cells {
		score := pct(s.Score, s.Scored)
		if i == best && len(rep.Cells) > 1 {
			score = "**" + score + "**"
		}
		if s.LoadErr != "" {
			score = "not run"
		}
		fmt.Fprintf(&b, "| %s | %s | %d/%d | %s | %s | %s | %s | %d |\n", mdEscape(s.Label), score,
			s.Passed, s.Scored, ms(s.TTFT), tps(s.PrefillTPS), tps(s.DecodeTPS), mib(s.PeakRSS), s.GeneratedTokens)
	}
	if tags := tagNames(rep.Cells); len(tags) > 0 {
		b.WriteString("\n| tag |")
		for _, s := range rep.Cells {
			fmt.Fprintf(&b, " %s |", mdEscape(s.Label))
		}
		b.WriteString("\n|---|" + strings.Repeat("---:|", len(rep.Cells)) + "\n")
		for _, t := range tags {
			fmt.Fprintf(&b, "| %s |", mdEscape(t))
			for _, s := range rep.Cells {
				fmt.Fprintf(&b, " %s |", tagScore(s, t))
			}
			b.WriteString("\n")
		}
	}
	for _, s := range rep.Cells {
		if len(s.Failures) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n<details><summary>%s: %d failures</summary>\n\n", mdEscape(s.Label), len(s.Failures))
		for _, f := range s.Failures {
			fmt.Fprintf(&b, "- `%s`%s: %s\n", strings.ReplaceAll(f.Case, "`", "'"), runSuffix(f.Run, rep.Runs), mdEscape(f.Reason))
		}
		b.WriteString("\n</details>\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdEscape(s string) string {
	r := strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;")
	return r.Replace(s)
}

func tagNames(ss []Summary) []string {
	var tags []string
	for _, s := range ss {
		for _, t := range s.Tags {
			if !slices.Contains(tags, t.Tag) {
				tags = append(tags, t.Tag)
			}
		}
	}
	return tags
}

func tagScore(s Summary, tag string) string {
	for _, t := range s.Tags {
		if t.Tag == tag {
			return pct(t.Score, t.Scored)
		}
	}
	return "—"
}

func runSuffix(run, runs int) string {
	if runs > 1 {
		return fmt.Sprintf(" (run %d)", run+1)
	}
	return ""
}

// pct formats a score; n = 0 means nothing was scored.
func pct(score float64, n int) string {
	if n == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f%%", 100*score)
}

func ms(d time.Duration) string {
	if d <= 0 {
		return "—"
	}
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

func tps(v float64) string {
	if v <= 0 {
		return "—"
	}
	if v < 100 {
		return fmt.Sprintf("%.1f tok/s", v)
	}
	return fmt.Sprintf("%.0f tok/s", v)
}

func mib(b int64) string {
	if b <= 0 {
		return "—"
	}
	return fmt.Sprintf("%d MiB", (b+1<<19)>>20)
}
