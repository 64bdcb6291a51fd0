package ui

// TerminalSafe is the TUI's own cleaning for text bound for a terminal
// (control characters other than newline and tab become U+FFFD, carriage
// returns go), for commands that print model text outside the TUI.
func TerminalSafe(s string) string { return cleanText(s) }
