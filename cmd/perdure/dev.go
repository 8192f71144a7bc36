package main

import (
	"github.com/spf13/cobra"

	"github.com/perdure/perdure/examples"
	"github.com/perdure/perdure/worker"
)

func init() {
	addCommand(func() *cobra.Command {
		f := &nodeFlags{}
		cmd := &cobra.Command{
			Use:   "dev",
			Short: "Run Perdure with every example on an embedded SQLite file, for development",
			Long: `perdure dev runs the engine, the HTTP API (native under /api/v1 and
Dapr-compatible under /v1.0-beta1), /healthz, /metrics and an in-process worker
with every example workflow registered, on ./.perdure/dev.db by default.

Ctrl-C stops it gracefully; starting it again continues every unfinished workflow.`,
			Example: `  perdure dev
  perdure dev --store /tmp/perdure.db --addr 127.0.0.1:3600

  # then, in another terminal:
  curl -X POST 'http://localhost:3500/v1.0-beta1/workflows/dapr/TaskChainWorkflow/start?instanceID=chain-1' -d 1
  curl http://localhost:3500/v1.0-beta1/workflows/dapr/chain-1`,
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return runNode(cmd, f, "dev", func(w *worker.Worker, n *node) error {
					return examples.Register(w, examples.Options{Completer: newHTTPCompleter(n.address()), Logger: n.log})
				})
			},
		}
		f.register(cmd, ".perdure/dev.db")
		return cmd
	})
}
