package pgstore

import (
	"context"
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/perdure/perdure/store"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migration is one numbered schema step.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order.
func migrations() ([]migration, error) {
	files, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, f := range files {
		base := strings.TrimSuffix(strings.TrimPrefix(f, "migrations/"), ".sql")
		num, _, _ := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("pgstore: migration %s: the name must start with its number", f)
		}
		b, err := migrationFS.ReadFile(f)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("pgstore: migrations must be numbered 1, 2, 3…: %s is number %d", m.name, i+1)
		}
	}
	return ms, nil
}

// LatestSchemaVersion is the schema version this binary migrates to.
func LatestSchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		panic(err) // the embedded files are part of the binary
	}
	return len(ms)
}

// Migrate brings the Perdure schema of the database at dsn (in opts.Schema,
// created if missing) to LatestSchemaVersion and reports the versions
// before and after. Open does the same, so calling Migrate is only needed
// to migrate ahead of a deployment. Concurrent calls, from this process or
// others, are serialised by a PostgreSQL advisory lock: one applies the
// pending migrations, the others then find nothing to do. A database
// migrated by a newer Perdure fails with an error wrapping
// store.ErrSchemaTooNew and is left as it is.
func Migrate(ctx context.Context, dsn string, opts Options) (from, to int, err error) {
	cfg, err := poolConfig(dsn, opts)
	if err != nil {
		return 0, 0, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return 0, 0, fmt.Errorf("pgstore: connect to %s: %w", describe(cfg.ConnConfig), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return migrate(ctx, conn, opts.Schema)
}

// migrate runs the pending migrations on conn in one transaction, under a
// transaction-level advisory lock keyed by the schema name.
func migrate(ctx context.Context, conn *pgx.Conn, schema string) (from, to int, err error) {
	ms, err := migrations()
	if err != nil {
		return 0, 0, err
	}
	where := describe(conn.Config())
	if schema != "" {
		where += " schema " + schema
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("pgstore: %s: migrate: %w", where, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey(schema)); err != nil {
		return 0, 0, fmt.Errorf("pgstore: %s: take the migration lock: %w", where, err)
	}
	if schema != "" {
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize()); err != nil {
			return 0, 0, fmt.Errorf("pgstore: %s: create the schema: %w (does the user have the CREATE privilege on the database?)", where, err)
		}
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)`); err != nil {
		return 0, 0, fmt.Errorf("pgstore: %s: create schema_version: %w", where, err)
	}
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&from); err != nil {
		return 0, 0, fmt.Errorf("pgstore: %s: read schema_version: %w", where, err)
	}
	if from > len(ms) {
		return from, from, fmt.Errorf("pgstore: %s has schema version %d, this binary knows up to %d; run a newer Perdure, or restore a backup made by this version: %w",
			where, from, len(ms), store.ErrSchemaTooNew)
	}
	if from == len(ms) {
		return from, from, tx.Commit(ctx)
	}
	for _, m := range ms[from:] {
		// No arguments: the simple protocol runs every statement of the file.
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return from, from, fmt.Errorf("pgstore: %s: migration %s: %w", where, m.name, err)
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM schema_version`); err != nil {
		return from, from, fmt.Errorf("pgstore: %s: write schema_version: %w", where, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES ($1)`, len(ms)); err != nil {
		return from, from, fmt.Errorf("pgstore: %s: write schema_version: %w", where, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return from, from, fmt.Errorf("pgstore: %s: commit the migrations: %w", where, err)
	}
	return from, len(ms), nil
}

// migrationLockKey is the advisory lock that serialises the migrations of
// one schema.
func migrationLockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("perdure migrate " + schema))
	return int64(h.Sum64())
}

// describe names a database in errors, without its password.
func describe(c *pgx.ConnConfig) string {
	if c == nil {
		return "postgres"
	}
	return fmt.Sprintf("postgres %s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
}
