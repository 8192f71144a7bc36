package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/perdure/perdure/store/pgstore"
	"github.com/perdure/perdure/store/sqlitestore"
)

func init() { addCommand(newMigrateCmd) }

func newMigrateCmd() *cobra.Command {
	var spec string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Bring a store's schema to this binary's version, and report it",
		Long: `Apply the store's pending schema migrations and print the schema version.

Nodes migrate their store when they start, so this is needed only to
migrate ahead of a deployment, or to check a store's version. On
PostgreSQL, nodes and this command take an advisory lock while they
migrate, so that several starting at once do not race. A store whose schema
is newer than this binary knows is refused: run a newer Perdure.

  perdure migrate --store perdure.db
  perdure migrate --store postgres://perdure@db.internal:5432/perdure`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var from, to int
			var err error
			var where string
			switch {
			case isPostgres(spec):
				where = redactURL(spec)
				from, to, err = pgstore.Migrate(cmd.Context(), spec, pgstore.Options{})
			case strings.TrimSpace(spec) == "":
				return fmt.Errorf("--store is empty: give a SQLite file path or a postgres:// URL")
			default:
				path := strings.TrimPrefix(spec, "sqlite:")
				where = "sqlite:" + path
				from, to, err = sqlitestore.Migrate(path)
			}
			if err != nil {
				return fmt.Errorf("migrate %s: %w", where, err)
			}
			out := cmd.OutOrStdout()
			if from == to {
				fmt.Fprintf(out, "%s: schema version %d, up to date\n", where, to)
				return nil
			}
			fmt.Fprintf(out, "%s: schema version %d (migrated from %d)\n", where, to, from)
			return nil
		},
	}
	cmd.Flags().StringVar(&spec, "store", envOr("PERDURE_STORE", "perdure.db"), "the store: a SQLite file path (or sqlite:PATH), or a postgres:// URL (env PERDURE_STORE)")
	return cmd
}
