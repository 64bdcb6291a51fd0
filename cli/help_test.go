package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/charmbracelet/x/exp/golden"
	"github.com/spf13/cobra"
)

// run runs natter in-process (commands that need no model) and returns its
// output and exit status.
func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	root := NewRoot()
	var o, e bytes.Buffer
	root.SetOut(&o)
	root.SetErr(&e)
	root.SetArgs(args)
	code = execute(root, &e)
	return o.String(), e.String(), code
}

// allCommands is every visible command of the tree, the root first.
func allCommands(c *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{c}
	for _, s := range c.Commands() {
		if s.IsAvailableCommand() {
			out = append(out, allCommands(s)...)
		}
	}
	return out
}

// Every command's --help is kept as a golden file: a change to a flag, a
// default or a description shows up in review (go test ./cli -update).
func TestHelpGolden(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	for _, c := range allCommands(NewRoot()) {
		path := strings.Fields(c.CommandPath())[1:]
		name := strings.Join(append([]string{"natter"}, path...), "_")
		t.Run(name, func(t *testing.T) {
			out, errOut, code := run(t, append(path, "--help")...)
			if code != 0 || errOut != "" {
				t.Fatalf("--help: exit %d, stderr %q", code, errOut)
			}
			if strings.Contains(out, "\x1b[") {
				t.Fatalf("help to a pipe has escape sequences:\n%q", out)
			}
			golden.RequireEqual(t, out)
		})
	}
}

// Defaults are shown as typed (0.8, not float32 noise), and the flags of
// the chat and ask come in their groups.
func TestHelpGroupsAndDefaults(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"ask", "--help"}} {
		out, _, _ := run(t, args...)
		for _, want := range []string{"MODEL FLAGS", "SAMPLING FLAGS", "CHAT FLAGS", "OUTPUT FLAGS", "EXAMPLES",
			"--temp float", "(default 0.8)", "(default 0.95)", "(default 0.05)", "-m, --model string"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: no %q in\n%s", args, want, out)
			}
		}
		if strings.Contains(out, "00000") || strings.Contains(out, "99999") {
			t.Errorf("%v shows float noise:\n%s", args, out)
		}
		// Each group holds its flags: --temp comes after SAMPLING FLAGS and
		// before CHAT FLAGS.
		s, c, temp := strings.Index(out, "SAMPLING FLAGS"), strings.Index(out, "CHAT FLAGS"), strings.Index(out, "--temp float")
		if !(s < temp && temp < c) {
			t.Errorf("%v: --temp is not in the sampling group:\n%s", args, out)
		}
	}
	root, _, _ := run(t, "--help")
	for _, want := range []string{"CHAT", "MODELS", "SETUP", "ask PROMPT...", "completion", "doctor", "config", "man"} {
		if !strings.Contains(root, want) {
			t.Errorf("natter --help has no %q:\n%s", want, root)
		}
	}
}

// Every top-level command shows examples.
func TestEveryCommandHasExamples(t *testing.T) {
	for _, c := range NewRoot().Commands() {
		switch c.Name() {
		case "help", "completion", "version", "man":
			continue
		}
		if c.IsAvailableCommand() && strings.TrimSpace(c.Example) == "" {
			t.Errorf("natter %s has no examples", c.Name())
		}
	}
}

// Typos get the nearest flag or command, and exit 2.
func TestDidYouMean(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"ask", "--tmp", "1", "hi"}, "did you mean --temp?"},
		{[]string{"ask", "--max-token", "5", "hi"}, "did you mean --max-tokens?"},
		{[]string{"--contineu"}, "did you mean --continue?"},
		{[]string{"bench", "--jsn"}, "did you mean --json?"},
		{[]string{"hisory"}, "did you mean history?"},
		{[]string{"modles"}, "did you mean models?"},
		{[]string{"history", "shwo", "1"}, `unknown command "shwo"`},
	}
	for _, c := range cases {
		_, errOut, code := run(t, c.args...)
		if code != exitUsage || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errOut, c.want)
		}
		if !strings.Contains(errOut, "--help' for usage") {
			t.Errorf("%v: no pointer to --help: %q", c.args, errOut)
		}
	}
	// A flag nothing is close to gets no guess.
	_, errOut, _ := run(t, "ask", "--zzzzzzzz", "hi")
	if strings.Contains(errOut, "did you mean") {
		t.Errorf("a wild guess: %q", errOut)
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"temp", "temp", 0}, {"tmp", "temp", 1}, {"tpme", "temp", 2}, {"etmp", "temp", 1}, {"", "abc", 3}, {"kitten", "sitting", 3}} {
		if got := editDistance(c.a, c.b); got != c.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.d)
		}
	}
}

// The man page is roff built from the same tree.
func TestManPage(t *testing.T) {
	out, _, code := run(t, "man")
	if code != 0 {
		t.Fatalf("natter man: exit %d", code)
	}
	for _, want := range []string{".TH", "natter", "ask", "--temp", "EXIT STATUS"} {
		if !strings.Contains(strings.ToUpper(out), strings.ToUpper(want)) {
			t.Errorf("man page lacks %q", want)
		}
	}
}
