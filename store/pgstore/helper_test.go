package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/perdure/perdure/internal/pgtest"
)

// testDSN returns the database of the tests, PERDURE_TEST_POSTGRES, or
// skips the test when it is unset.
func testDSN(t testing.TB) string {
	t.Helper()
	return pgtest.DSN(t)
}

var (
	adminOnce sync.Once
	admin     *pgxpool.Pool
	adminErr  error
)

// adminPool is a small pool of the tests' own, to create and drop schemas.
func adminPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dsn := testDSN(t)
	adminOnce.Do(func() {
		cfg, err := pgxpool.ParseConfig(dsn)
		if err != nil {
			adminErr = err
			return
		}
		cfg.MaxConns = 2
		admin, adminErr = pgxpool.NewWithConfig(context.Background(), cfg)
	})
	if adminErr != nil {
		t.Fatalf("connect to PERDURE_TEST_POSTGRES: %v", adminErr)
	}
	return admin
}

// testSchema returns the name of a new schema that is dropped, with
// everything in it, when the test ends.
func testSchema(t testing.TB) string {
	t.Helper()
	pool := adminPool(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "perdure_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	return name
}

// openSchema opens a store on schema with a small pool (the conformance
// suite runs its cases in parallel, and PostgreSQL allows 100
// connections), closed when the test ends.
func openSchema(t testing.TB, schema string, opts Options) *Store {
	t.Helper()
	opts.Schema = schema
	if opts.MaxConns == 0 {
		opts.MaxConns = 3
	}
	s, err := Open(context.Background(), testDSN(t), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newTestStore opens a store on a fresh schema.
func newTestStore(t testing.TB) *Store {
	t.Helper()
	return openSchema(t, testSchema(t), Options{})
}
