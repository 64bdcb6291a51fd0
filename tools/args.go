package tools

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
)

// args is a decoded argument object, read field by field so that every
// problem names the field it is about.
type args struct {
	tool   string
	fields map[string]json.RawMessage
}

// parseArgs decodes text as a JSON object whose keys must all be in allowed.
func parseArgs(tool, text string, allowed ...string) (*args, error) {
	text = strings.TrimSpace(text)
	if text == "" || text == "null" {
		text = "{}"
	}
	var fields map[string]json.RawMessage
	err := json.Unmarshal([]byte(text), &fields)
	if err != nil {
		// Small models sometimes send the object encoded once more as a string.
		var inner string
		if json.Unmarshal([]byte(text), &inner) == nil && json.Unmarshal([]byte(inner), &fields) == nil {
			err = nil
		}
	}
	if err != nil || fields == nil {
		reason := "arguments must be a JSON object"
		if err != nil {
			reason += ": " + err.Error()
		}
		return nil, &ArgError{Tool: tool, Reason: reason}
	}
	for k := range fields {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			return nil, &ArgError{Tool: tool, Field: k, Reason: "unknown field; allowed: " + strings.Join(allowed, ", ")}
		}
	}
	return &args{tool: tool, fields: fields}, nil
}

func (a *args) errf(field, reason string) error {
	return &ArgError{Tool: a.tool, Field: field, Reason: reason}
}

// raw returns a field's JSON text, with null counted as absent.
func (a *args) raw(field string) (json.RawMessage, bool) {
	r, ok := a.fields[field]
	if !ok || bytes.Equal(bytes.TrimSpace(r), []byte("null")) {
		return nil, false
	}
	return r, true
}

func jsonKind(r json.RawMessage) string {
	r = bytes.TrimSpace(r)
	if len(r) == 0 {
		return "nothing"
	}
	switch r[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	default:
		return "a number"
	}
}

// str reads a string field; a required one that is absent is an error.
func (a *args) str(field string, required bool) (string, bool, error) {
	r, ok := a.raw(field)
	if !ok {
		if required {
			return "", false, a.errf(field, "required")
		}
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(r, &s); err != nil {
		return "", false, a.errf(field, "must be a string, not "+jsonKind(r))
	}
	return s, true, nil
}

// integer reads an optional whole number of at least min.
func (a *args) integer(field string, min int) (int, bool, error) {
	r, ok := a.raw(field)
	if !ok {
		return 0, false, nil
	}
	var f float64
	if err := json.Unmarshal(r, &f); err != nil {
		return 0, false, a.errf(field, "must be an integer, not "+jsonKind(r))
	}
	if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false, a.errf(field, "must be an integer")
	}
	if int(f) < min {
		return 0, false, a.errf(field, "must be at least "+itoa(min))
	}
	return int(f), true, nil
}

// boolean reads an optional boolean.
func (a *args) boolean(field string) (bool, bool, error) {
	r, ok := a.raw(field)
	if !ok {
		return false, false, nil
	}
	var b bool
	if err := json.Unmarshal(r, &b); err != nil {
		return false, false, a.errf(field, "must be true or false, not "+jsonKind(r))
	}
	return b, true, nil
}

// encodeArgs writes the normalized arguments; HTML escaping is off so that
// code with < > & stays readable in the history.
func encodeArgs(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "{}"
	}
	return strings.TrimSuffix(buf.String(), "\n")
}
