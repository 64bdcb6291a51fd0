// Command natter is a terminal chat assistant that runs a small GGUF language
// model in-process through llama.cpp. main only wires: the commands live in
// package cli.
package main

import (
	"os"

	"natter/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
