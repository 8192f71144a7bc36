package main

import (
	"github.com/spf13/cobra"
)

func init() {
	addCommand(func() *cobra.Command {
		f := &nodeFlags{}
		cmd := &cobra.Command{
			Use:   "server",
			Short: "Run the Perdure engine and HTTP API, for production",
			Long: `perdure server runs the engine, the HTTP API (native under /api/v1 and
Dapr-compatible under /v1.0-beta1), /healthz and /metrics, without the examples.

Workflows and activities run in remote workers: programs that connect with
perdure.Connect to the worker API under /api/v1/worker/ on the same address
(GET /api/v1/workers lists them). The API has no authentication: expose the
address only to trusted workers and clients (docs/remote-workers.md).

SIGINT or SIGTERM stops it gracefully; unfinished workflows continue when it
starts again.`,
			Example: `  perdure server --store /var/lib/perdure/perdure.db --addr 0.0.0.0:3500 --log-format json
  perdure server --retention 720h --max-activities 200`,
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return runNode(cmd, f, "server", nil)
			},
		}
		f.register(cmd, "perdure.db")
		return cmd
	})
}
