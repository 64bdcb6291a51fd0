package eval

import "time"

// Cell is one combination a suite runs against: a model, a persona and a
// chat template. What identifies it in a saved run is kept with it, so a
// later diff knows whether the file or the prompt changed.
type Cell struct {
	Model     string // display name ("stories260K", "gpu:qwen3.5-27b")
	ModelRef  string // the file path, or the endpoint's URL and model
	ModelHash string // sha256 of the model file; "" for a remote model
	Backend   string // "llama.cpp", "go", or "remote"
	Persona   string // persona name; "" = the suite's system prompts
	// PersonaText is the persona's system prompt as sent.
	PersonaText  string
	Template     string // template name or file; "" = the model's own
	TemplateText string
	Sampling     string // the sampling settings, as JSON
}

// Label is the cell's short name in tables: model, persona, template.
func (c Cell) Label() string {
	s := c.Model
	if c.Persona != "" {
		s += " · " + c.Persona
	}
	if c.Template != "" {
		s += " · " + c.Template
	}
	return s
}

// CaseResult is one graded reply.
type CaseResult struct {
	Case  string // Case.ID
	Index int    // the case's position in the suite (0-based)
	Run   int    // 0-based repetition (--runs)
	Tags  []string
	// Output is the reply as checked (reasoning removed); Reasoning is
	// what the model thought first, if anything.
	Output    string
	Reasoning string
	Pass      bool
	Score     float64 // 1 pass, 0 fail; a judge may give a fraction
	Reason    string  // why it failed, or the judge's words
	Predicted string  // choice: the label found in the reply ("" none)
	Expected  string  // choice: the label wanted
	Err       string  // generation failed; the case counts as failed
	Skipped   bool    // judge case run without --judge: not scored

	PromptTokens    int
	CachedTokens    int // of PromptTokens, reused from the KV cache (no prefill)
	GeneratedTokens int
	TTFT            time.Duration
	PrefillTime     time.Duration
	DecodeTime      time.Duration
	StopReason      string
}

// CellResult is every reply of one cell.
type CellResult struct {
	Cell    Cell
	Results []CaseResult
	PeakRSS int64 // bytes; 0 when unknown (a remote model, or not Linux)
	LoadErr string
}

// Run is one `natter eval` invocation.
type Run struct {
	ID        int64
	Started   time.Time
	Finished  time.Time
	Suite     string // suite name
	SuitePath string
	SuiteHash string
	Runs      int  // repetitions of each case
	Complete  bool // false: interrupted, or a cell failed to load
	Cells     []CellResult
}
