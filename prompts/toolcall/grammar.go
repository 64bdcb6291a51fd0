package toolcall

import (
	"errors"
	"fmt"
	"strings"

	"natter/prompts/grammar"
)

// Grammar returns a GBNF grammar (llama.cpp syntax, root rule "root") for a
// reply that is exactly one call, in this format, of one of toolNames, with
// any JSON object as arguments (no schema). Names must be non-empty and use
// only letters, digits, '_', '-' and '.', so they cannot break the markup
// of the formats that write them bare.
func (f *Format) Grammar(toolNames []string) (string, error) {
	if len(toolNames) == 0 {
		return "", errors.New("toolcall: a call grammar needs at least one tool name")
	}
	for _, n := range toolNames {
		if !validToolName(n) {
			return "", fmt.Errorf("toolcall: tool name %q: use letters, digits, '_', '-' and '.' only", n)
		}
	}
	if f.grammarF == nil {
		return "", fmt.Errorf("toolcall: no call grammar for format %s", f.Name)
	}
	return f.grammarF(toolNames)
}

func validToolName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// nameRule is the alternatives of the tool names, written by quote.
func nameRule(rule string, names []string, quote func(string) string) string {
	alts := make([]string, len(names))
	for i, n := range names {
		alts[i] = grammar.Literal(quote(n))
	}
	return rule + " ::= " + strings.Join(alts, " | ") + "\n"
}

func bare(s string) string { return s }

// JSON values; each value swallows the spaces after it. Whitespace and
// digit runs are bounded so a weak model cannot loop in them forever.
const jsonRules = `obj ::= "{" ws ( pair ( "," ws pair )* )? "}" ws
pair ::= str ":" ws val
val ::= obj | arr | str | num ws | ( "true" | "false" | "null" ) ws
arr ::= "[" ws ( val ( "," ws val )* )? "]" ws
str ::= "\"" chr* "\"" ws
chr ::= [^"\\\x00-\x1f] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} )
num ::= "-"? ( "0" | [1-9] [0-9]{0,15} ) ( "." [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,3} )?
ws ::= [ \t\n]{0,8}
`

// jsonCall is the common {"name": …, "<argKey>": {…}} object.
func jsonCall(argKey string) string {
	return `"{" ws "\"name\"" ws ":" ws fname ws "," ws ` + grammar.Literal(`"`+argKey+`"`) + ` ws ":" ws obj`
}

func hermesGrammar(names []string) (string, error) {
	return `root ::= "<tool_call>" ws ` + jsonCall("arguments") + ` "}" ws "</tool_call>"` + "\n" +
		nameRule("fname", names, jsonQuote) + jsonRules, nil
}

// Parameter values are JSON, or plain text without '<' (which could start
// the closing tag).
func qwen3CoderGrammar(names []string) (string, error) {
	return `root ::= "<tool_call>\n<function=" fname ">\n" param* "</function>\n</tool_call>"
param ::= "<parameter=" key ">\n" pval "\n</parameter>\n"
key ::= [A-Za-z_] [A-Za-z0-9_]{0,63}
pval ::= val | [^<]+
` + nameRule("fname", names, bare) + jsonRules, nil
}

func llama3Grammar(names []string) (string, error) {
	return `root ::= ` + jsonCall("parameters") + ` "}" ws` + "\n" +
		nameRule("fname", names, jsonQuote) + jsonRules, nil
}

func mistralGrammar(names []string) (string, error) {
	return `root ::= "[TOOL_CALLS]" ws "[" ws ` + jsonCall("arguments") +
		` ( "," ws "\"id\"" ws ":" ws "\"" [a-zA-Z0-9]{9} "\"" ws )? "}" ws "]"` + "\n" +
		nameRule("fname", names, jsonQuote) + jsonRules, nil
}

func mistralV11Grammar(names []string) (string, error) {
	return `root ::= "[TOOL_CALLS]" fname ( "[CALL_ID]" [a-zA-Z0-9]{9} )? "[ARGS]" obj` + "\n" +
		nameRule("fname", names, bare) + jsonRules, nil
}

func graniteGrammar(names []string) (string, error) {
	return `root ::= "<|tool_call|>" ws "[" ws ` + jsonCall("arguments") + ` "}" ws "]"` + "\n" +
		nameRule("fname", names, jsonQuote) + jsonRules, nil
}

func harmonyGrammar(names []string) (string, error) {
	return `root ::= "<|start|>assistant"? "<|channel|>commentary to=functions." fname " <|constrain|>json<|message|>" obj "<|call|>"?` + "\n" +
		nameRule("fname", names, bare) + jsonRules, nil
}

// A string cannot hold "<|" (it would start the closing delimiter).
func gemma4Grammar(names []string) (string, error) {
	return `root ::= "<|tool_call>call:" fname gobj "<tool_call|>"
gobj ::= "{" ( gpair ( "," gpair )* )? "}"
gpair ::= key ":" gval
key ::= [A-Za-z_] [A-Za-z0-9_]{0,63}
gval ::= gstr | num | "true" | "false" | "null" | gobj | garr
garr ::= "[" ( gval ( "," gval )* )? "]"
gstr ::= "<|\"|>" ( [^<] | "<" [^|] )* "<|\"|>"
num ::= "-"? ( "0" | [1-9] [0-9]{0,15} ) ( "." [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,3} )?
` + nameRule("fname", names, bare), nil
}

func lfm2Grammar(names []string) (string, error) {
	return `root ::= "<|tool_call_start|>[" fname "(" ( kw ( ", " kw )* )? ")]<|tool_call_end|>"
kw ::= key "=" pval
key ::= [A-Za-z_] [A-Za-z0-9_]{0,63}
pval ::= pstr | num | "True" | "False" | "None" | plist | pdict
pstr ::= "\"" chr* "\"" | "'" ( [^'\\\x00-\x1f] | "\\" [^\x00-\x1f] )* "'"
plist ::= "[" ( pval ( ", " pval )* )? "]"
pdict ::= "{" ( pstr ": " pval ( ", " pstr ": " pval )* )? "}"
chr ::= [^"\\\x00-\x1f] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} )
num ::= "-"? ( "0" | [1-9] [0-9]{0,15} ) ( "." [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,3} )?
` + nameRule("fname", names, bare), nil
}
