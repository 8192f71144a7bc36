package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perdure/perdure/store"
	"github.com/perdure/perdure/store/storetest"
)

func TestConformance(t *testing.T) {
	for _, c := range []struct {
		name string
		opts Options
	}{{"shared", Options{}}, {"exclusive", Options{ExclusiveLocking: true}}} {
		t.Run(c.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store {
				s, err := Open(filepath.Join(t.TempDir(), "perdure.db"), c.opts)
				if err != nil {
					t.Fatal(err)
				}
				return s
			})
		})
	}
}

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestDurabilityPragmas(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "p.db"))
	ctx := context.Background()
	check := func(what string, row func(q string) error, mode *string, sync *int) {
		t.Helper()
		if err := row("PRAGMA journal_mode"); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if err := row("PRAGMA synchronous"); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if *mode != "wal" || *sync != 2 {
			t.Fatalf("%s: journal_mode=%q synchronous=%d, want wal and 2 (FULL)", what, *mode, *sync)
		}
	}
	// The writer connection, also after a workflow task claim (whose
	// transaction alone is not fsynced) and after a commit.
	var mode string
	var sync int
	checkWriter := func(what string) {
		t.Helper()
		s.wmu.Lock()
		defer s.wmu.Unlock()
		check(what, func(q string) error {
			if q == "PRAGMA journal_mode" {
				return s.wconn.QueryRowContext(ctx, q).Scan(&mode)
			}
			return s.wconn.QueryRowContext(ctx, q).Scan(&sync)
		}, &mode, &sync)
	}
	checkWriter("writer")
	now := time.Now()
	errs, err := s.Apply(ctx, []store.Op{&store.RunCreateOp{
		Run:   store.Run{InstanceID: "i", RunID: "r", Name: "wf", CreatedAt: now, UpdatedAt: now},
		Start: store.Message{Type: "ExecutionStarted", VisibleAt: now}}})
	if err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	checkWriter("writer after a commit")
	if tasks, err := s.WorkflowTaskClaim(ctx, &store.WorkflowTaskClaimParams{Owner: "w", Max: 1, Now: now, LeaseUntil: now.Add(time.Minute)}); err != nil || len(tasks) != 1 {
		t.Fatal(err, len(tasks))
	}
	checkWriter("writer after a claim")
	// Every connection of the read pool: hold them all at once.
	for i := 0; i < 4; i++ {
		c, err := s.rdb.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var mode string
		var sync, queryOnly int
		check("reader", func(q string) error {
			if q == "PRAGMA journal_mode" {
				return c.QueryRowContext(ctx, q).Scan(&mode)
			}
			return c.QueryRowContext(ctx, q).Scan(&sync)
		}, &mode, &sync)
		if err := c.QueryRowContext(ctx, "PRAGMA query_only").Scan(&queryOnly); err != nil || queryOnly != 1 {
			t.Fatalf("reader: query_only=%d (%v), want 1", queryOnly, err)
		}
	}
	if got := s.rdb.Stats().OpenConnections; got != 4 {
		t.Fatalf("read pool has %d connections, want 4", got)
	}
}

// A new file gets pageSize pages; a file created with another page size
// keeps it, and works.
func TestPageSize(t *testing.T) {
	ctx := context.Background()
	pageSizeOf := func(t *testing.T, s *Store) (w, r int) {
		t.Helper()
		s.wmu.Lock()
		err := s.wconn.QueryRowContext(ctx, "PRAGMA page_size").Scan(&w)
		s.wmu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.rdb.QueryRowContext(ctx, "PRAGMA page_size").Scan(&r); err != nil {
			t.Fatal(err)
		}
		return w, r
	}
	create := func(t *testing.T, s *Store, id string) {
		t.Helper()
		now := time.Now()
		errs, err := s.Apply(ctx, []store.Op{&store.RunCreateOp{
			Run:   store.Run{InstanceID: id, RunID: id, Name: "wf", CreatedAt: now, UpdatedAt: now},
			Start: store.Message{Type: "ExecutionStarted", VisibleAt: now}}})
		if err != nil || errs[0] != nil {
			t.Fatal(err, errs)
		}
		if _, err := s.RunGet(ctx, id, id); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("new file", func(t *testing.T) {
		s := open(t, filepath.Join(t.TempDir(), "p.db"))
		if w, r := pageSizeOf(t, s); w != pageSize || r != pageSize {
			t.Fatalf("page size %d (writer), %d (reader), want %d", w, r, pageSize)
		}
		create(t, s, "a")
	})
	t.Run("file with 4 KiB pages", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "old.db")
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=page_size(4096)&_journal_mode=WAL")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("CREATE TABLE before_perdure (x INTEGER)"); err != nil {
			t.Fatal(err)
		}
		db.Close()
		s := open(t, path)
		if w, r := pageSizeOf(t, s); w != 4096 || r != 4096 {
			t.Fatalf("page size %d (writer), %d (reader), want the file's 4096", w, r)
		}
		create(t, s, "b")
		var mode string
		if err := s.rdb.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
			t.Fatalf("journal_mode %q (%v), want wal", mode, err)
		}
	})
}

func TestExclusiveLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	s := open(t, path)
	_, err := Open(path, Options{})
	if err == nil || !strings.Contains(err.Error(), "another Perdure process") {
		t.Fatalf("second Open: got %v, want an error about another Perdure process", err)
	}
	_, err = Open("sqlite:"+path, Options{})
	if err == nil {
		t.Fatal("second Open with the sqlite: prefix succeeded")
	}
	if !s.Exclusive() {
		t.Fatal("Exclusive() = false")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open("sqlite:"+path, Options{})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s2.Close()
}

func TestCreatesDirectoryAndPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "perdure.db")
	s := open(t, "sqlite:"+path)
	ctx := context.Background()
	at := time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)
	op := &store.RunCreateOp{
		Run:   store.Run{InstanceID: "i1", RunID: "r1", Name: "wf", Input: []byte(`{"a":1}`), CreatedAt: at, UpdatedAt: at},
		Start: store.Message{Type: "ExecutionStarted", VisibleAt: at},
	}
	errs, err := s.Apply(ctx, []store.Op{op})
	if err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	r, err := s.RunGet(ctx, "i1", "")
	if err != nil {
		t.Fatal(err)
	}
	if r.RunID != "r1" || !r.CreatedAt.Equal(at) || string(r.Input) != `{"a":1}` {
		t.Fatalf("after reopening: %+v", r)
	}
	if s.SchemaVersion() != LatestSchemaVersion() || s.SchemaVersion() < 1 {
		t.Fatalf("SchemaVersion() = %d, latest %d", s.SchemaVersion(), LatestSchemaVersion())
	}
}

func TestSchemaTooNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	s := open(t, path)
	s.wmu.Lock()
	_, err := s.wconn.ExecContext(context.Background(), `UPDATE schema_version SET version = 999`)
	s.wmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = Open(path, Options{})
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("Open: got %v, want ErrSchemaTooNew", err)
	}
	// The failed Open released the lock.
	f, err := lockFile(path + ".lock")
	if err != nil {
		t.Fatalf("lock after a failed Open: %v", err)
	}
	f.Close()
}

func TestMigrateDownUp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	s := open(t, path)
	ctx := context.Background()
	if err := s.migrateDown(ctx, 0); err != nil {
		t.Fatal(err)
	}
	var n int
	s.wmu.Lock()
	err := s.wconn.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name <> 'schema_version' AND name NOT LIKE 'sqlite_%'`).Scan(&n)
	s.wmu.Unlock()
	if err != nil || n != 0 {
		t.Fatalf("after migrating down: %d tables (%v), want 0", n, err)
	}
	s.Close()
	s = open(t, path)
	if s.SchemaVersion() != LatestSchemaVersion() {
		t.Fatalf("SchemaVersion() = %d after migrating up", s.SchemaVersion())
	}
}

func TestNotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "junk.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a database ", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{}); err == nil {
		t.Fatal("Open of a file that is not a database succeeded")
	}
}

// NextWakeup compares with the time it is given, not the wall clock: an
// engine on virtual time passes its own.
func TestNextWakeupVirtualTime(t *testing.T) {
	now := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	s, err := Open(filepath.Join(t.TempDir(), "c.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var ops []store.Op
	for i, d := range []time.Duration{-time.Second, time.Hour} {
		id := string(rune('a' + i))
		ops = append(ops, &store.RunCreateOp{
			Run:   store.Run{InstanceID: id, RunID: id, Name: "wf", CreatedAt: now},
			Start: store.Message{Type: "ExecutionStarted", VisibleAt: now.Add(d)},
		})
	}
	if _, err := s.Apply(ctx, ops); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.NextWakeup(ctx, now)
	if err != nil || !ok || !got.Equal(now.Add(time.Hour)) {
		t.Fatalf("NextWakeup = %v %v %v, want %v", got, ok, err, now.Add(time.Hour))
	}
}
