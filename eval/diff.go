package eval

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// MeanScore is the mean Score of the scored (not Skipped) results, 0..1; 0
// when none was scored.
func MeanScore(rs []CaseResult) float64 {
	sum, n := 0.0, 0
	for _, r := range rs {
		if !r.Skipped {
			sum += r.Score
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// DiffResult compares two runs, A the earlier and B the later.
type DiffResult struct {
	A, B         int64
	SuiteChanged bool // the suite file's hash differs
	// Cells are the cells found in both runs, in A's order.
	Cells []CellDiff
	// OnlyA and OnlyB are the cells of one run only, each in its run's
	// order.
	OnlyA, OnlyB []Cell
}

// CellDiff is one cell (model, persona, template) present in both runs.
type CellDiff struct {
	A, B Cell
	// Changed says what differs besides the replies: "model file
	// changed", "persona text changed", "template changed", and the like.
	Changed []string
	// ScoreA and ScoreB are MeanScore of each side; ScoredA and ScoredB
	// count the scored results (0: the score means nothing).
	ScoreA, ScoreB   float64
	ScoredA, ScoredB int
	// Better passed in B but failed in A; Worse the reverse. Replies
	// skipped on either side are not compared.
	Better, Worse []CaseChange
	// OnlyA and OnlyB are the IDs of cases with replies in one run only.
	OnlyA, OnlyB []string
	TTFTA, TTFTB time.Duration // mean time to first token
	// DecodeTPSA and DecodeTPSB are generated tokens over decode time.
	DecodeTPSA, DecodeTPSB float64
}

// CaseChange is one reply that passed in one run and failed in the other.
type CaseChange struct {
	Case string
	Run  int // 0-based repetition
	// Before and After are the replies of A and B, cut to 200 runes.
	Before, After string
	Reason        string // why the failing side failed
}

// changeClip is how many runes of each reply a CaseChange keeps.
const changeClip = 200

type cellKey struct{ model, persona, template string }

func keyOf(c Cell) cellKey { return cellKey{c.Model, c.Persona, c.Template} }

type replyKey struct {
	id  string
	run int
}

// Diff compares two runs. Cells are matched by model, persona and template
// (a name used twice in a run matches in order); a matched pair whose model
// file, persona text or template text differs is marked Changed. Replies
// are matched by case ID and repetition.
func Diff(a, b *Run) DiffResult {
	d := DiffResult{A: a.ID, B: b.ID, SuiteChanged: a.SuiteHash != b.SuiteHash}
	inB := map[cellKey][]int{}
	for j, c := range b.Cells {
		k := keyOf(c.Cell)
		inB[k] = append(inB[k], j)
	}
	matched := make([]bool, len(b.Cells))
	for _, ca := range a.Cells {
		k := keyOf(ca.Cell)
		js := inB[k]
		if len(js) == 0 {
			d.OnlyA = append(d.OnlyA, ca.Cell)
			continue
		}
		inB[k] = js[1:]
		matched[js[0]] = true
		d.Cells = append(d.Cells, diffCell(ca, b.Cells[js[0]]))
	}
	for j, cb := range b.Cells {
		if !matched[j] {
			d.OnlyB = append(d.OnlyB, cb.Cell)
		}
	}
	// A run of one model, then one of another (a tuned or quantized copy):
	// the two cells are what the user compares.
	if len(d.Cells) == 0 && len(a.Cells) == 1 && len(b.Cells) == 1 {
		d.OnlyA, d.OnlyB = nil, nil
		cd := diffCell(a.Cells[0], b.Cells[0])
		if la, lb := a.Cells[0].Cell.Label(), b.Cells[0].Cell.Label(); la != lb {
			cd.Changed = append([]string{"compared across cells: " + la + " → " + lb}, cd.Changed...)
		}
		d.Cells = append(d.Cells, cd)
	}
	return d
}

func diffCell(a, b CellResult) CellDiff {
	sa, sb := Summarize(a), Summarize(b)
	cd := CellDiff{
		A: a.Cell, B: b.Cell,
		ScoreA: sa.Score, ScoreB: sb.Score, ScoredA: sa.Scored, ScoredB: sb.Scored,
		TTFTA: sa.TTFT, TTFTB: sb.TTFT, DecodeTPSA: sa.DecodeTPS, DecodeTPSB: sb.DecodeTPS,
	}
	cd.Changed = cellChanges(a, b)

	before := make(map[replyKey]CaseResult, len(a.Results))
	idsA := map[string]bool{}
	for _, r := range a.Results {
		before[replyKey{r.Case, r.Run}] = r
		idsA[r.Case] = true
	}
	idsB := map[string]bool{}
	after := make(map[replyKey]CaseResult, len(b.Results))
	for _, r := range b.Results {
		after[replyKey{r.Case, r.Run}] = r
		idsB[r.Case] = true
	}
	listed := map[string]bool{}
	for _, old := range a.Results {
		if !idsB[old.Case] {
			if !listed[old.Case] {
				listed[old.Case] = true
				cd.OnlyA = append(cd.OnlyA, old.Case)
			}
			continue
		}
		now, ok := after[replyKey{old.Case, old.Run}]
		if !ok || old.Skipped || now.Skipped || old.Pass == now.Pass {
			continue
		}
		ch := CaseChange{Case: old.Case, Run: old.Run, Before: clip(old.Output, changeClip), After: clip(now.Output, changeClip)}
		if now.Pass {
			ch.Reason = failReason(old)
			cd.Better = append(cd.Better, ch)
		} else {
			ch.Reason = failReason(now)
			cd.Worse = append(cd.Worse, ch)
		}
	}
	for _, r := range b.Results {
		if !idsA[r.Case] && !listed[r.Case] {
			listed[r.Case] = true
			cd.OnlyB = append(cd.OnlyB, r.Case)
		}
	}
	return cd
}

// cellChanges says what differs between two matched cells besides their
// replies.
func cellChanges(a, b CellResult) []string {
	var ch []string
	ca, cb := a.Cell, b.Cell
	switch {
	case ca.ModelHash != "" && cb.ModelHash != "":
		if ca.ModelHash != cb.ModelHash {
			ch = append(ch, "model file changed")
		}
	case ca.ModelHash == "" && cb.ModelHash == "":
		// Remote models (or neither loaded): the endpoint tells.
		if ca.ModelRef != cb.ModelRef {
			ch = append(ch, "model source changed")
		}
	}
	if ca.Backend != cb.Backend && ca.Backend != "" && cb.Backend != "" {
		ch = append(ch, fmt.Sprintf("backend changed (%s → %s)", ca.Backend, cb.Backend))
	}
	// A cell that failed to load never got its persona text.
	if a.LoadErr == "" && b.LoadErr == "" && ca.PersonaText != cb.PersonaText {
		ch = append(ch, "persona text changed")
	}
	if ca.TemplateText != cb.TemplateText {
		ch = append(ch, "template changed")
	}
	if ca.Sampling != cb.Sampling {
		ch = append(ch, "sampling changed")
	}
	if a.LoadErr != b.LoadErr {
		if a.LoadErr != "" {
			ch = append(ch, "failed to load before: "+oneLine(a.LoadErr))
		}
		if b.LoadErr != "" {
			ch = append(ch, "failed to load now: "+oneLine(b.LoadErr))
		}
	}
	return ch
}

// failReason is why a reply failed: its check's reason, else the
// generation error.
func failReason(r CaseResult) string {
	if r.Reason != "" {
		return r.Reason
	}
	return r.Err
}

// Same says nothing differs but speed: no score, case, cell, or setting.
func (c CellDiff) Same() bool {
	return c.ScoreA == c.ScoreB && c.ScoredA == c.ScoredB && len(c.Changed) == 0 &&
		len(c.Better) == 0 && len(c.Worse) == 0 && len(c.OnlyA) == 0 && len(c.OnlyB) == 0
}

// Same says the runs agree on every cell and every reply's grade.
func (d DiffResult) Same() bool {
	if d.SuiteChanged || len(d.OnlyA) > 0 || len(d.OnlyB) > 0 {
		return false
	}
	for _, c := range d.Cells {
		if !c.Same() {
			return false
		}
	}
	return true
}

// WriteText writes the comparison for a terminal: per cell its score
// before and after, the cases that got better or worse, and what changed.
func (d DiffResult) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "run %d → run %d\n", d.A, d.B)
	if d.SuiteChanged {
		b.WriteString("suite changed: its file differs between the runs\n")
	}
	for _, c := range d.Cells {
		fmt.Fprintf(&b, "\n%s: %s → %s%s\n", c.B.Label(), pct(c.ScoreA, c.ScoredA), pct(c.ScoreB, c.ScoredB), scoreDelta(c))
		for _, n := range c.Changed {
			fmt.Fprintf(&b, "  %s\n", n)
		}
		multi := false // name the repetition when there were several
		for _, l := range [][]CaseChange{c.Better, c.Worse} {
			for _, x := range l {
				multi = multi || x.Run > 0
			}
		}
		for _, x := range c.Better {
			fmt.Fprintf(&b, "  better  %s%s: %s\n", x.Case, changeRun(x.Run, multi), quote(x.After))
		}
		for _, x := range c.Worse {
			fmt.Fprintf(&b, "  worse   %s%s: %s", x.Case, changeRun(x.Run, multi), quote(x.After))
			if x.Reason != "" {
				fmt.Fprintf(&b, " (%s)", oneLine(x.Reason))
			}
			b.WriteString("\n")
		}
		if len(c.OnlyA) > 0 {
			fmt.Fprintf(&b, "  only in run %d: %s\n", d.A, strings.Join(c.OnlyA, ", "))
		}
		if len(c.OnlyB) > 0 {
			fmt.Fprintf(&b, "  only in run %d: %s\n", d.B, strings.Join(c.OnlyB, ", "))
		}
		if c.DecodeTPSA > 0 && c.DecodeTPSB > 0 {
			fmt.Fprintf(&b, "  speed   decode %s → %s, first token %s → %s\n",
				tps(c.DecodeTPSA), tps(c.DecodeTPSB), ms(c.TTFTA), ms(c.TTFTB))
		}
	}
	for _, c := range d.OnlyA {
		fmt.Fprintf(&b, "\nonly in run %d: %s\n", d.A, c.Label())
	}
	for _, c := range d.OnlyB {
		fmt.Fprintf(&b, "\nonly in run %d: %s\n", d.B, c.Label())
	}
	if d.Same() {
		b.WriteString("\nno change: every case passed or failed as before\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// scoreDelta is " (+8.3)", in percentage points, when both sides scored.
func scoreDelta(c CellDiff) string {
	if c.ScoredA == 0 || c.ScoredB == 0 {
		return ""
	}
	delta := 100 * (c.ScoreB - c.ScoreA)
	if delta > -0.05 && delta < 0.05 {
		delta = 0 // not "-0.0" for a rounding error
	}
	return fmt.Sprintf(" (%+.1f)", delta)
}

// changeRun names the repetition; not "run N", which in a diff is a saved
// run's number.
func changeRun(run int, multi bool) string {
	if !multi {
		return ""
	}
	return fmt.Sprintf(" (repetition %d)", run+1)
}
