// Package pgtest gives tests outside store/pgstore a PostgreSQL database of
// their own: the server named by PERDURE_TEST_POSTGRES (tests skip without
// it), and a fresh schema per test, dropped when the test ends.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DSN returns PERDURE_TEST_POSTGRES, or skips the test when it is unset.
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("PERDURE_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("PERDURE_TEST_POSTGRES is not set (for example postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	return dsn
}

// Schema creates a new, empty schema, dropped with everything in it when
// the test ends, and returns a URL of the test database whose search_path
// selects it: every process opened with that URL shares that Perdure
// database, and no other.
func Schema(t testing.TB) string {
	t.Helper()
	dsn := DSN(t)
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("PERDURE_TEST_POSTGRES must be a postgres:// URL here, got %q", dsn)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "perdure_test_" + hex.EncodeToString(b[:])
	exec := func(q string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, q)
		return err
	}
	ident := pgx.Identifier{name}.Sanitize()
	if err := exec("CREATE SCHEMA " + ident); err != nil {
		t.Fatalf("create schema %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := exec("DROP SCHEMA IF EXISTS " + ident + " CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}
