package main

import (
	"fmt"
	"os"
)

// runChat opens the interactive chat.
func runChat(args []string) int {
	fmt.Fprintln(os.Stderr, "natter: the interactive chat is not built yet; use `natter ask`.")
	usage(os.Stderr)
	return exitUsage
}
