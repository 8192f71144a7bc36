package pgstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/perdure/perdure/store"
)

// Options tunes a Store. The zero value is the recommended setting.
type Options struct {
	// MaxConns is the size of the connection pool. Default 8. The
	// Wakeups listener uses one more connection of its own.
	MaxConns int32
	// Deprecated: NextWakeup compares with the time its caller passes
	// (the engine's clock, virtual or not); Now has no effect.
	Now func() time.Time
	// Schema is the PostgreSQL schema that holds Perdure's tables, set as
	// the search_path of every connection and created by the migrations
	// when missing. Several Perdure databases can share one PostgreSQL
	// database in different schemas. "" keeps the search_path of the DSN
	// (by default the schema "public").
	Schema string

	// tracer, set by tests, traces the queries of every connection.
	tracer pgx.QueryTracer
	// noBulk, set by tests, applies every op on its own (no bulkFused).
	noBulk bool
}

// Store is the PostgreSQL store.Store. Open returns one; Close releases it.
type Store struct {
	pool    *pgxpool.Pool
	cfg     *pgxpool.Config
	where   string // names the database in errors
	closed  atomic.Bool
	version int
	channel string // the NOTIFY channel of this schema

	// retries counts the transactions tried again after a deadlock, a
	// serialization failure or a concurrent start of the same instance.
	retries atomic.Int64

	noBulk bool // Options.noBulk

	wakeMu sync.Mutex // guards wake
	wake   *listener

	gets getter // the RunGet calls, read together
}

var _ store.Store = (*Store)(nil)

// defaultMaxConns is the pool size when Options.MaxConns is 0.
const defaultMaxConns = 8

// poolConfig parses dsn (a postgres:// or postgresql:// URL, or key=value
// pairs) and applies opts.
func poolConfig(dsn string, opts Options) (*pgxpool.Config, error) {
	if dsn == "" {
		return nil, errors.New("pgstore: empty DSN: pass a URL such as postgres://user@host:5432/db, or key=value pairs such as \"host=localhost dbname=perdure\"")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgconn's parse errors may include the DSN, with its password.
		var pe *pgconn.ParseConfigError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("pgstore: invalid DSN: %v", pe.Unwrap())
		}
		return nil, fmt.Errorf("pgstore: invalid DSN: %w", err)
	}
	cfg.MaxConns = opts.MaxConns
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = defaultMaxConns
	}
	cfg.MinConns = 0
	if opts.tracer != nil {
		cfg.ConnConfig.Tracer = opts.tracer
	}
	if opts.Schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{opts.Schema}.Sanitize()
	}
	// Every commit is durable before anyone is told, whatever the server's
	// or the role's default (a workflow task claim alone opts out, with SET
	// LOCAL, in its own transaction).
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		scanUTC(c.TypeMap())
		return nil
	}
	return cfg, nil
}

// scanUTC makes timestamptz values scan as UTC times, as the contract
// keeps them.
func scanUTC(m *pgtype.Map) {
	tz := &pgtype.Type{Name: "timestamptz", OID: pgtype.TimestamptzOID, Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC}}
	m.RegisterType(tz)
	m.RegisterType(&pgtype.Type{Name: "_timestamptz", OID: pgtype.TimestamptzArrayOID, Codec: &pgtype.ArrayCodec{ElementType: tz}})
}

// Open connects to the PostgreSQL database at dsn (a postgres:// or
// postgresql:// URL, or key=value pairs) and migrates its Perdure schema
// to the version this binary knows, as Migrate does: a database created by
// an older Perdure is upgraded in place (under an advisory lock, so that
// nodes starting together do not race), and one migrated by a newer
// Perdure is refused with an error wrapping store.ErrSchemaTooNew.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	cfg, err := poolConfig(dsn, opts)
	if err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, where: describe(cfg.ConnConfig), noBulk: opts.noBulk}
	if opts.Schema != "" {
		s.where += " schema " + opts.Schema
	}
	if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("pgstore: %s: %w", s.where, err)
	}
	if err := s.open(ctx, opts.Schema); err != nil {
		s.pool.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) open(ctx context.Context, schema string) error {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("pgstore: connect to %s: %w", s.where, err)
	}
	defer c.Release()
	if _, s.version, err = migrate(ctx, c.Conn(), schema); err != nil {
		return err
	}
	var cur string
	if err := c.QueryRow(ctx, `SELECT current_schema()`).Scan(&cur); err != nil {
		return fmt.Errorf("pgstore: %s: read the current schema: %w", s.where, err)
	}
	s.channel = channelName(cur)
	return nil
}

// channelName is the NOTIFY channel of the Perdure database in schema:
// notifications are per PostgreSQL database, so each schema has its own.
func channelName(schema string) string {
	ch := "perdure_wake:" + schema
	if len(ch) > 63 { // NAMEDATALEN - 1
		h := fnv.New64a()
		h.Write([]byte(schema))
		ch = fmt.Sprintf("perdure_wake:%x", h.Sum64())
	}
	return ch
}

// SchemaVersion returns the schema version of the database.
func (s *Store) SchemaVersion() int { return s.version }

// Exclusive reports false: many nodes share one database, so a node must
// not release the leases of the others at startup.
func (s *Store) Exclusive() bool { return false }

// Close stops the Wakeups listener and closes the pool once the running
// operations return their connections. Later calls of other methods fail
// with store.ErrClosed; a second Close returns nil.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.wakeMu.Lock()
	if s.wake != nil {
		s.wake.stop()
	}
	s.wakeMu.Unlock()
	s.pool.Close()
	return nil
}

func (s *Store) errClosed() error {
	return fmt.Errorf("pgstore %s: %w", s.where, store.ErrClosed)
}

// dbErr wraps an error of the database itself (a lost connection, a bug in
// a statement), as opposed to an op that the contract refuses. A dbErr
// fails the whole Apply batch.
type dbErr struct{ err error }

func (e *dbErr) Error() string { return e.err.Error() }
func (e *dbErr) Unwrap() error { return e.err }

// wrapDB marks err as a database failure, mapping it to store.ErrClosed
// when the store was closed under it.
func (s *Store) wrapDB(what string, err error) error {
	if err == nil {
		return nil
	}
	if s.closed.Load() {
		return s.errClosed()
	}
	var de *dbErr
	if errors.As(err, &de) {
		return err
	}
	return &dbErr{fmt.Errorf("pgstore %s: %s: %w", s.where, what, err)}
}

// readErr maps the error of a read: the caller's cancellation as it is.
func (s *Store) readErr(ctx context.Context, what string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && !s.closed.Load() {
		return ctx.Err()
	}
	return s.wrapDB(what, err)
}
