// Package eval runs test suites of prompts against models, personas and
// templates, grades each reply with a check, and saves the runs so two of
// them can be compared. It knows models only through engine/api (the
// command wires in the local engine or a remote server), so it is pure Go.
package eval

import (
	"regexp"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"natter/prompts"
)

// Suite is a parsed and validated suite file.
type Suite struct {
	Path        string
	Name        string // the file's `name`, else its base name without extension
	Description string
	Hash        string // sha256 (hex) of the file's bytes
	Cases       []Case
}

// Case is one prompt and the check its reply must pass.
type Case struct {
	ID   string // the case's `id`, else "#N" (1-based position in the file)
	Line int    // line of the file where the case starts
	// Input is the user's prompt; Messages, when set instead, is the whole
	// conversation (its last message is the user's).
	Input    string
	Messages []prompts.Message
	// System is the case's system prompt (else the suite's). A persona
	// given on the command line replaces it.
	System string
	// Vars are substituted into Input, Messages and System as {{name}}
	// before the case runs; Substitute has done it already.
	Vars      map[string]string
	Tags      []string
	MaxTokens int // 0: the suite's, else the command's --max-tokens
	// Grammar (GBNF) constrains the reply; "" leaves it free (unless the
	// json check's constrain sets Check.Grammar).
	Grammar string
	Check   Check
}

// Check kinds.
const (
	CheckExact    = "exact"
	CheckContains = "contains"
	CheckRegex    = "regex"
	CheckChoice   = "choice"
	CheckJSON     = "json"
	CheckNumber   = "number"
	CheckJudge    = "judge"
)

// Check grades one reply. Kind says which fields are used.
type Check struct {
	Kind       string
	IgnoreCase bool // exact, contains, choice
	// exact: the reply, trimmed of surrounding white space, equals Want.
	Want string
	// contains: the reply holds every string of All and, when Any is set,
	// at least one of Any.
	All, Any []string
	// regex: Pattern matches somewhere in the reply.
	Pattern *regexp.Regexp
	// choice: the first of Labels found in the reply (as a whole word) is
	// Label. Labels is the case's, else the suite's.
	Label  string
	Labels []string
	// json: the reply (or the first fenced ```json block in it) is valid
	// JSON; it matches Schema when set, and each dotted path of Fields
	// holds the given value.
	Schema *jsonschema.Schema
	Fields map[string]any
	// json with constrain: the reply is generated under this grammar (the
	// schema's, else any JSON object), so it is JSON by construction.
	Grammar       string
	GrammarSchema []byte
	// number: the first number in the reply is within Tolerance of Number.
	Number, Tolerance float64
	// judge: another model grades the reply against Rubric.
	Rubric string
}
