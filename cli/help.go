package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"charm.land/fang/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
)

// natter draws its own help in fang's colours because fang's help lists all
// flags in one block, and natter's commands have too many flags for that:
// they are grouped (model, sampling, chat, output).

// helpStyles are the help screen's styles (fang's colour scheme).
type helpStyles struct {
	title, text, flag, arg, def, cmd, comment, program lipgloss.Style
}

func newHelpStyles(w io.Writer) helpStyles {
	dark := true
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) && term.IsTerminal(int(os.Stdin.Fd())) {
		dark = lipgloss.HasDarkBackground(os.Stdin, f)
	}
	cs := fang.DefaultColorScheme(lipgloss.LightDark(dark))
	s := lipgloss.NewStyle
	return helpStyles{
		title:   s().Bold(true).Foreground(cs.Title),
		text:    s().Foreground(cs.Base),
		flag:    s().Foreground(cs.Flag),
		arg:     s().Foreground(cs.DimmedArgument),
		def:     s().Foreground(cs.FlagDefault),
		cmd:     s().Foreground(cs.Command),
		comment: s().Foreground(cs.Comment),
		program: s().Foreground(cs.Program),
	}
}

// helpWidth is where descriptions wrap: the terminal's width (at most 120),
// or 100 for a pipe or file so the text is the same everywhere.
func helpWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 40 {
			return min(cols, 120)
		}
	}
	return 100
}

func helpFunc(cmd *cobra.Command, _ []string) {
	out := cmd.OutOrStdout()
	w := colorprofile.NewWriter(out, os.Environ())
	writeHelp(w, cmd, newHelpStyles(out), helpWidth(out))
}

// flagGroups are the help's flag sections, in order; flags with no group
// come last under "flags".
var flagGroups = []struct{ id, title string }{
	{flagsModel, "model flags"},
	{flagsSampling, "sampling flags"},
	{flagsChat, "chat flags"},
	{flagsTools, "tool flags"},
	{flagsServe, "server flags"},
	{flagsOutput, "output flags"},
	{"", "flags"},
}

func writeHelp(w io.Writer, cmd *cobra.Command, st helpStyles, width int) {
	section := func(name string) {
		fmt.Fprintf(w, "\n  %s\n", st.title.Render(strings.ToUpper(name)))
	}
	if about := cmd.Long; about != "" || cmd.Short != "" {
		if about == "" {
			about = upperFirst(cmd.Short) + "."
		}
		fmt.Fprintln(w)
		for _, l := range strings.Split(about, "\n") {
			if l == "" {
				fmt.Fprintln(w)
				continue
			}
			fmt.Fprintln(w, "  "+st.text.Render(l))
		}
	}

	section("usage")
	fmt.Fprintln(w, "    "+useLine(cmd, st))
	if len(cmd.Aliases) > 0 {
		fmt.Fprintln(w, "    "+st.comment.Render("also: "+strings.Join(cmd.Aliases, ", ")))
	}
	if cmd.Example != "" {
		section("examples")
		for _, l := range strings.Split(strings.Trim(cmd.Example, "\n"), "\n") {
			l = strings.TrimPrefix(l, "  ")
			switch {
			case strings.HasPrefix(strings.TrimSpace(l), "#"):
				fmt.Fprintln(w, "    "+st.comment.Render(l))
			case strings.TrimSpace(l) == "":
				fmt.Fprintln(w)
			default:
				fmt.Fprintln(w, "    "+st.program.Render(l))
			}
		}
	}

	// Keys (command names, flags) share one column width so the
	// descriptions of every section line up.
	type row struct{ key, plain, desc string }
	var sections []struct {
		title string
		rows  []row
	}
	keyW := 0
	add := func(title string, rows []row) {
		if len(rows) == 0 {
			return
		}
		for _, r := range rows {
			keyW = max(keyW, ansi.StringWidth(r.plain))
		}
		sections = append(sections, struct {
			title string
			rows  []row
		}{title, rows})
	}

	cmdRow := func(c *cobra.Command) row {
		plain := strings.Replace(c.Use, " [flags]", "", 1)
		name, args, _ := strings.Cut(plain, " ")
		key := st.cmd.Render(name)
		if args != "" {
			key += " " + st.arg.Render(args)
		}
		return row{key, plain, c.Short}
	}
	subs := cmd.Commands()
	if len(cmd.Groups()) > 0 {
		for _, g := range cmd.Groups() {
			var rows []row
			for _, c := range subs {
				if c.GroupID == g.ID && c.IsAvailableCommand() {
					rows = append(rows, cmdRow(c))
				}
			}
			add(strings.ToLower(g.Title), rows)
		}
	} else {
		var rows []row
		for _, c := range subs {
			if c.IsAvailableCommand() {
				rows = append(rows, cmdRow(c))
			}
		}
		add("commands", rows)
	}

	for _, g := range flagGroups {
		var rows []row
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Hidden || flagGroup(f) != g.id {
				return
			}
			plain, key := flagKey(f, st)
			_, desc := pflag.UnquoteUsage(f)
			if d := defaultText(f); d != "" {
				desc += " " + st.def.Render("(default "+d+")")
			}
			rows = append(rows, row{key, plain, desc})
		})
		add(g.title, rows)
	}

	keyW = min(keyW, 34)
	descW := max(width-4-keyW-2, 30)
	for _, s := range sections {
		section(s.title)
		for _, r := range s.rows {
			lines := wrapWords(r.desc, descW)
			pad := keyW - ansi.StringWidth(r.plain)
			if pad < 0 { // a very long key: description on the next line
				fmt.Fprintln(w, "    "+r.key)
				pad = keyW
				r.key = ""
			}
			fmt.Fprintf(w, "    %s%s  %s\n", r.key, strings.Repeat(" ", pad), lines[0])
			for _, l := range lines[1:] {
				fmt.Fprintf(w, "    %s  %s\n", strings.Repeat(" ", keyW), l)
			}
		}
	}

	fmt.Fprintln(w)
	if cmd.HasAvailableSubCommands() {
		path := cmd.CommandPath()
		fmt.Fprintf(w, "  %s\n", st.comment.Render(fmt.Sprintf("Run '%s COMMAND --help' for a command's flags.", path)))
		if !cmd.HasParent() {
			fmt.Fprintf(w, "  %s\n", st.comment.Render("Exit status: 0 done, 1 failed, 2 bad usage, 130 interrupted."))
		}
		fmt.Fprintln(w)
	}
}

// useLine is "natter ask [flags] PROMPT..." with its parts styled.
func useLine(cmd *cobra.Command, st helpStyles) string {
	parent := ""
	if cmd.HasParent() {
		parent = cmd.Parent().CommandPath() + " "
	}
	use := cmd.Use
	name, rest, _ := strings.Cut(use, " ")
	out := st.program.Render(parent + name)
	if cmd.HasAvailableSubCommands() && cmd.Runnable() && rest == "[flags]" {
		return out + " " + st.arg.Render("[command] [flags]")
	}
	if cmd.HasAvailableSubCommands() && rest == "" {
		return out + " " + st.arg.Render("[command]")
	}
	if rest == "" && cmd.HasAvailableFlags() {
		rest = "[flags]"
	}
	if rest != "" {
		out += " " + st.arg.Render(rest)
	}
	return out
}

func flagGroup(f *pflag.Flag) string {
	if g := f.Annotations[groupAnnotation]; len(g) > 0 {
		return g[0]
	}
	return ""
}

// flagKey is "-m, --model string" (plain and styled).
func flagKey(f *pflag.Flag, st helpStyles) (plain, styled string) {
	name := "--" + f.Name
	if f.Shorthand != "" {
		name = "-" + f.Shorthand + ", " + name
	} else {
		name = "    " + name
	}
	varname, _ := pflag.UnquoteUsage(f)
	switch varname {
	case "float64":
		varname = "float"
	case "stringArray":
		varname = "string"
	case "int64":
		varname = "int"
	}
	if f.NoOptDefVal != "" && f.Value.Type() != "bool" {
		varname = "[" + varname + "]" // the value is optional
	}
	plain, styled = name, st.flag.Render(name)
	if varname != "" {
		plain += " " + varname
		styled += " " + st.arg.Render(varname)
	}
	return plain, styled
}

// defaultText is the default worth showing ("" for none: empty, false, 0).
func defaultText(f *pflag.Flag) string {
	switch f.DefValue {
	case "", "false", "0", "[]":
		return ""
	}
	return f.DefValue
}

// wrapWords breaks s into lines of at most width cells (a longer word gets
// a line of its own).
func wrapWords(s string, width int) []string {
	var lines []string
	var cur strings.Builder
	curW := 0
	for _, word := range strings.Fields(s) {
		ww := ansi.StringWidth(word)
		if curW > 0 && curW+1+ww > width {
			lines = append(lines, cur.String())
			cur.Reset()
			curW = 0
		}
		if curW > 0 {
			cur.WriteByte(' ')
			curW++
		}
		cur.WriteString(word)
		curW += ww
	}
	lines = append(lines, cur.String())
	return lines
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// writeStyledError is a usage error on a terminal, in fang's look.
func writeStyledError(w io.Writer, cmd *cobra.Command, msg string) {
	cs := fang.DefaultColorScheme(lipgloss.LightDark(true))
	header := lipgloss.NewStyle().Bold(true).Padding(0, 1).
		Foreground(cs.ErrorHeader[0]).Background(cs.ErrorHeader[1]).Render("ERROR")
	cw := colorprofile.NewWriter(w, os.Environ())
	fmt.Fprintf(cw, "\n  %s  %s\n\n  Try %s for usage.\n\n", header, msg,
		lipgloss.NewStyle().Foreground(cs.Flag).Render(cmd.CommandPath()+" --help"))
}
