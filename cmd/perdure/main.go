// Command perdure runs Perdure: `perdure dev` (engine, HTTP API and every
// example on an embedded SQLite file), `perdure server` (the same without
// the examples), and client commands (`perdure workflow …`, `perdure
// activity …`) that talk to a running server over HTTP.
package main

import (
	"fmt"
	"os"

	"github.com/perdure/perdure/internal/gcfloor"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// commands are added by the files of this package (init functions), so that
// each command lives in its own file.
var commands []func() *cobra.Command

func addCommand(f func() *cobra.Command) { commands = append(commands, f) }

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "perdure",
		Short: "Durable execution for Go: workflows that survive crashes, restarts and long waits",
		Long: `Perdure runs workflows written as plain Go functions, durably, on an embedded
SQLite file (or PostgreSQL across many nodes).

Start here:
  perdure dev                         engine, HTTP API on 127.0.0.1:3500 and every example
  perdure workflow start TaskChainWorkflow --input 1
  perdure workflow list`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	for _, f := range commands {
		root.AddCommand(f())
	}
	return root
}

func main() {
	// A node keeps little alive but allocates quickly under load: without
	// a floor it collects every few MB (see internal/gcfloor). GOGC in the
	// environment turns this off.
	if gcfloor.Enabled() {
		gcfloor.Start(gcfloor.Default)
	}
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// envOr returns the environment variable's value, or def when unset.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}
