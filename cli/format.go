package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"natter/engine/api"
	"natter/prompts/grammar"
)

// formatFlags are the structured-output flags of ask and the chat.
type formatFlags struct {
	json            bool
	schema, grammar string
}

func (f *formatFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.BoolVar(&f.json, "json", false, "the reply is a JSON object (sampling is constrained to valid JSON)")
	fs.StringVar(&f.schema, "json-schema", "", "the reply is JSON valid against this schema (`FILE` or inline JSON)")
	fs.StringVar(&f.grammar, "grammar", "", "the reply follows the GBNF grammar (llama.cpp's format) in `FILE`")
	group(fs, flagsOutput, "json", "json-schema", "grammar")
}

// format reads what the flags ask for (nil for none), so a bad schema or
// grammar is an error before any model loads.
func (f *formatFlags) format() (*grammar.Format, error) {
	n := 0
	for _, on := range []bool{f.json, f.schema != "", f.grammar != ""} {
		if on {
			n++
		}
	}
	switch {
	case n > 1:
		return nil, errors.New("--json, --json-schema and --grammar exclude each other")
	case f.json:
		return grammar.JSONFormat(), nil
	case f.schema != "":
		return grammar.SchemaFormat(f.schema)
	case f.grammar != "":
		return grammar.GrammarFormat(f.grammar)
	}
	return nil, nil
}

// thinkOff turns --think auto into off for a format: the grammar holds from
// the first token, so a reasoning block would be constrained instead of the
// answer. --think on with a format is refused.
func thinkOff(sf *samplingFlags, f *grammar.Format) error {
	if f == nil {
		return nil
	}
	switch sf.think {
	case "on":
		return fmt.Errorf("--think on cannot be combined with --%s: the grammar would constrain the thinking", f.Kind)
	case "auto":
		sf.think = "off"
	}
	return nil
}

// applyFormat puts a format on a request: the grammar for the local
// engines, the schema for a remote server.
func applyFormat(req *api.Request, f *grammar.Format) {
	if f != nil {
		req.Grammar, req.JSONSchema = f.GBNF, f.Schema
	}
}
