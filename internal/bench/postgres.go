package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/perdure/perdure/store/pgstore"
)

// Store kinds, as the results name them.
const (
	StoreSQLite   = "sqlite"
	StorePostgres = "postgres"
)

// IsPostgres reports whether a --store value names a PostgreSQL database
// (a postgres:// or postgresql:// URL) rather than a SQLite file.
func IsPostgres(spec string) bool {
	return strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://")
}

// redact returns the URL u with its password, if any, replaced.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	return p.Redacted()
}

// pgConnect opens one connection to dsn whose search_path is schema (""
// keeps the DSN's).
func pgConnect(ctx context.Context, dsn, schema string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("bench: --store: %w", err)
	}
	if schema != "" {
		cfg.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	}
	// As the store's connections do, whatever the role's default.
	cfg.RuntimeParams["synchronous_commit"] = "on"
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("bench: connect to %s: %w", redact(dsn), err)
	}
	return c, nil
}

// pgExec runs one statement on a connection of its own.
func pgExec(dsn, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgConnect(ctx, dsn, "")
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, sql)
	return err
}

// newSchemaName returns a fresh schema name, perdure_bench_ and 12 random
// hex digits.
func newSchemaName() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "perdure_bench_" + hex.EncodeToString(b[:])
}

// createSchema creates the benchmark's schema in the database of dsn.
func createSchema(dsn, schema string) error {
	if err := pgExec(dsn, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return fmt.Errorf("bench: create schema %s in %s: %w", schema, redact(dsn), err)
	}
	return nil
}

// dropSchema drops the benchmark's schema with everything in it.
func dropSchema(dsn, schema string) error {
	if err := pgExec(dsn, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		return fmt.Errorf("bench: drop schema %s: %w", schema, err)
	}
	return nil
}

// MeasurePostgresCommit commits samples one-row transactions (an upsert of
// a 200-byte row, each its own transaction, with synchronous_commit=on as
// the store commits) to a scratch table in schema,
// over one connection, and returns the median time in milliseconds: a
// round trip to the server plus its durable commit (the WAL flush). It is
// what one durable commit of the store costs at least; the table is
// dropped afterwards.
func MeasurePostgresCommit(ctx context.Context, dsn, schema string, samples int) (float64, error) {
	c, err := pgConnect(ctx, dsn, schema)
	if err != nil {
		return 0, err
	}
	defer c.Close(context.Background())
	const table = "perdure_bench_commit_probe"
	if _, err := c.Exec(ctx, `CREATE TABLE `+table+` (k integer PRIMARY KEY, v bytea)`); err != nil {
		return 0, fmt.Errorf("measure commit: %w", err)
	}
	defer c.Exec(context.Background(), `DROP TABLE IF EXISTS `+table) //nolint:errcheck // the schema is fresh
	row := make([]byte, 200)
	times := make([]time.Duration, 0, samples)
	for i := range samples + 2 { // the first two prepare the statement
		start := time.Now()
		if _, err := c.Exec(ctx, `INSERT INTO `+table+` (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = excluded.v`, i%8, row); err != nil {
			return 0, fmt.Errorf("measure commit: %w", err)
		}
		if i >= 2 {
			times = append(times, time.Since(start))
		}
	}
	return ms(percentile(times, 50)), nil
}

// openPostgres creates the fresh schema of a PostgreSQL run, measures a
// durable commit in it and opens one store per node on it.
func (e *Env) openPostgres(ctx context.Context) error {
	dsn := e.cfg.StorePath
	e.Schema = newSchemaName()
	if err := createSchema(dsn, e.Schema); err != nil {
		e.Schema = ""
		return err
	}
	var err error
	if e.CommitMs, err = MeasurePostgresCommit(ctx, dsn, e.Schema, commitSamples); err != nil {
		return err
	}
	for range e.cfg.Nodes {
		st, err := pgstore.Open(ctx, dsn, pgstore.Options{Schema: e.Schema, MaxConns: int32(e.cfg.PoolSize)})
		if err != nil {
			return err
		}
		e.nodes = append(e.nodes, &node{st: st})
	}
	return nil
}
