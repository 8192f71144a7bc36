package main

import (
	"bytes"
	"context"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/perdure/perdure/internal/lockcheck"
	"github.com/perdure/perdure/internal/pgtest"
	"github.com/perdure/perdure/store/pgstore"
	"github.com/perdure/perdure/store/sqlitestore"
)

func runMigrate(t *testing.T, spec string) (string, error) {
	t.Helper()
	root := newRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs([]string{"migrate", "--store", spec})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return out.String() + errOut.String(), err
}

func TestMigrateSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	out, err := runMigrate(t, path)
	want := "schema version " + itoa(sqlitestore.LatestSchemaVersion()) + " (migrated from 0)"
	if err != nil || !strings.Contains(out, want) {
		t.Fatalf("first migrate: %v\n%s\nwant %q", err, out, want)
	}
	out, err = runMigrate(t, "sqlite:"+path)
	if err != nil || !strings.Contains(out, "up to date") {
		t.Fatalf("second migrate: %v\n%s", err, out)
	}
}

func TestMigratePostgres(t *testing.T) {
	dsn := pgtest.Schema(t)
	out, err := runMigrate(t, dsn)
	want := "schema version " + itoa(pgstore.LatestSchemaVersion()) + " (migrated from 0)"
	if err != nil || !strings.Contains(out, want) {
		t.Fatalf("first migrate: %v\n%s\nwant %q", err, out, want)
	}
	out, err = runMigrate(t, dsn)
	if err != nil || !strings.Contains(out, "up to date") {
		t.Fatalf("second migrate: %v\n%s", err, out)
	}
	st, where, err := openStore(dsn, false)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.Exclusive() || !strings.HasPrefix(where, "postgres://") {
		t.Fatalf("openStore(%q) = exclusive %v, %q", dsn, st.Exclusive(), where)
	}
}

func TestRedactURL(t *testing.T) {
	got := redactURL("postgres://perdure:s3cret@db:5432/perdure?sslmode=disable")
	if strings.Contains(got, "s3cret") || !strings.Contains(got, "perdure:xxxxx@db:5432") {
		t.Fatalf("redactURL = %q", got)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestOpenStoreExclusiveLocking(t *testing.T) {
	lockcheck.RunChild()
	if _, _, err := openStore("postgres://perdure@127.0.0.1:1/none", true); err == nil || !strings.Contains(err.Error(), "--sqlite-exclusive-locking") {
		t.Fatalf("--sqlite-exclusive-locking with a PostgreSQL store: %v, want an error naming the flag", err)
	}
	if runtime.GOOS == "windows" {
		t.Skip("no unix-excl VFS on this platform")
	}
	// Another process reads the file beside a node without the flag, and
	// cannot beside one with it.
	for _, exclusive := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "x.db")
		st, where, err := openStore(path, exclusive)
		if err != nil {
			t.Fatal(err)
		}
		if where != "sqlite:"+path {
			t.Fatalf("openStore(%q, %v) names it %q", path, exclusive, where)
		}
		err = lockcheck.FromAnotherProcess("TestOpenStoreExclusiveLocking", path)
		st.Close()
		if lockcheck.Refused(err) != exclusive || (!exclusive && err != nil) {
			t.Fatalf("another process beside a store opened with exclusive locking %v: %v", exclusive, err)
		}
	}
}
