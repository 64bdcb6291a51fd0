// Package tune fine-tunes a model on a user's data: it reads the training
// file, renders and packs it into token windows, and drives the engine's
// Trainer through epochs with progress, checkpoints and resume.
package tune

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"natter/prompts"
)

// Example is one line of a training file: a chat or a plain text.
type Example struct {
	Line     int
	Messages []prompts.Message
	Text     string
}

// maxLine bounds one JSONL line; a bigger one is surely not a chat.
const maxLine = 64 << 20

// ReadData reads a JSONL training file: each line an object with either
// "messages" (a chat: role and content strings, the last turn the
// assistant's) or "text". Blank lines are skipped. Errors name the line.
func ReadData(path string) ([]Example, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	exs, err := parseData(f, path)
	if err != nil {
		return nil, err
	}
	if len(exs) == 0 {
		return nil, fmt.Errorf("%s: no examples (want one JSON object per line, with \"messages\" or \"text\")", path)
	}
	return exs, nil
}

func parseData(r io.Reader, path string) ([]Example, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var out []Example
	for line := 1; ; line++ {
		b, err := readLine(br)
		if err == io.EOF && b == nil {
			return out, nil
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if len(bytes.TrimSpace(b)) > 0 {
			ex, perr := parseExample(b)
			if perr != nil {
				return nil, fmt.Errorf("%s:%d: %w", path, line, perr)
			}
			ex.Line = line
			out = append(out, ex)
		}
		if err == io.EOF {
			return out, nil
		}
	}
}

// readLine returns one line without its newline, refusing lines over
// maxLine rather than growing without bound.
func readLine(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > maxLine {
			return nil, fmt.Errorf("line longer than %d MiB", maxLine>>20)
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF:
			if len(buf) == 0 {
				return nil, io.EOF
			}
			return bytes.TrimRight(buf, "\r"), io.EOF
		case err != nil:
			return nil, err
		}
		return bytes.TrimRight(buf[:len(buf)-1], "\r"), nil
	}
}

type rawExample struct {
	Messages *[]rawMessage `json:"messages"`
	Text     *string       `json:"text"`
}

type rawMessage struct {
	Role    *string `json:"role"`
	Content any     `json:"content"`
}

func parseExample(b []byte) (Example, error) {
	if !utf8.Valid(b) {
		return Example{}, errors.New("not valid UTF-8")
	}
	var raw rawExample
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&raw); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return Example{}, errors.New(jsonErr(err))
		}
		return Example{}, fmt.Errorf("not a JSON object: %v", jsonErr(err))
	}
	if dec.More() {
		return Example{}, errors.New("more than one JSON value on the line")
	}
	switch {
	case raw.Messages != nil && raw.Text != nil:
		return Example{}, errors.New(`has both "messages" and "text"; give one`)
	case raw.Text != nil:
		if strings.TrimSpace(*raw.Text) == "" {
			return Example{}, errors.New(`"text" is empty`)
		}
		return Example{Text: *raw.Text}, nil
	case raw.Messages != nil:
		return parseMessages(*raw.Messages)
	}
	return Example{}, errors.New(`want "messages" (a chat) or "text"`)
}

func parseMessages(ms []rawMessage) (Example, error) {
	if len(ms) == 0 {
		return Example{}, errors.New(`"messages" is empty`)
	}
	var ex Example
	for i, m := range ms {
		if m.Role == nil {
			return Example{}, fmt.Errorf("message %d has no \"role\"", i+1)
		}
		switch *m.Role {
		case "system", "user", "assistant":
		default:
			return Example{}, fmt.Errorf("message %d: role %q (want system, user or assistant)", i+1, *m.Role)
		}
		text, ok := m.Content.(string)
		if !ok {
			return Example{}, fmt.Errorf("message %d: \"content\" must be a string", i+1)
		}
		ex.Messages = append(ex.Messages, prompts.Message{Role: *m.Role, Content: text})
	}
	if last := ex.Messages[len(ex.Messages)-1]; last.Role != "assistant" {
		return Example{}, fmt.Errorf("the last message is the %s's; a training chat ends with the assistant's reply", last.Role)
	}
	return ex, nil
}

// jsonErr drops encoding/json's "json: " prefix and names offsets plainly.
func jsonErr(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s (at byte %d)", se.Error(), se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("%q must be %s, not %s", te.Field, kindOf(te.Field), te.Value)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func kindOf(field string) string {
	switch field {
	case "messages":
		return "an array of {role, content}"
	case "text":
		return "a string"
	}
	return "another type"
}
