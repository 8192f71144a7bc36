package pgstore

import (
	"context"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"
)

// The store's connections commit with synchronous_commit=on even when the
// role's default is off.
func TestSynchronousCommit(t *testing.T) {
	dsn := testDSN(t)
	ctx := context.Background()
	admin := adminPool(t)
	role := "perdure_async_" + testSchema(t)[len("perdure_test_"):]
	ident := pgx.Identifier{role}.Sanitize()
	if _, err := admin.Exec(ctx, "CREATE ROLE "+ident+" LOGIN SUPERUSER"); err != nil {
		t.Fatalf("create role: %v", err)
	}
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "DROP ROLE IF EXISTS "+ident) })
	if _, err := admin.Exec(ctx, "ALTER ROLE "+ident+" SET synchronous_commit = off"); err != nil {
		t.Fatalf("alter role: %v", err)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.User = role
	// The role's default applies to a plain connection…
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect as %s: %v", role, err)
	}
	var plain string
	err = conn.QueryRow(ctx, "SHOW synchronous_commit").Scan(&plain)
	conn.Close(ctx)
	if err != nil || plain != "off" {
		t.Fatalf("a plain connection of the role has synchronous_commit %q (%v), want off", plain, err)
	}
	// …but not to the store's.
	u, err := url.Parse(dsn)
	if err != nil {
		t.Skipf("PERDURE_TEST_POSTGRES is not a URL: %v", err)
	}
	u.User = url.User(role)
	s, err := Open(ctx, u.String(), Options{Schema: testSchema(t), MaxConns: 2})
	if err != nil {
		t.Fatalf("Open as %s: %v", role, err)
	}
	defer s.Close()
	var got string
	if err := s.pool.QueryRow(ctx, "SHOW synchronous_commit").Scan(&got); err != nil || got != "on" {
		t.Fatalf("the store's connection has synchronous_commit %q (%v), want on", got, err)
	}
}
