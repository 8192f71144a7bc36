package pgstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/perdure/perdure/store"
)

func TestMigrate(t *testing.T) {
	schema := testSchema(t)
	ctx := context.Background()
	latest := LatestSchemaVersion()
	if latest < 1 {
		t.Fatalf("LatestSchemaVersion = %d", latest)
	}
	from, to, err := Migrate(ctx, testDSN(t), Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	if from != 0 || to != latest {
		t.Fatalf("Migrate on an empty schema: %d → %d, want 0 → %d", from, to, latest)
	}
	from, to, err = Migrate(ctx, testDSN(t), Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	if from != latest || to != latest {
		t.Fatalf("second Migrate: %d → %d, want %d → %d", from, to, latest, latest)
	}
	var tables int
	if err := adminPool(t).QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = $1
		AND table_name IN ('runs', 'history', 'messages', 'activity_tasks', 'schema_version')`, schema).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 5 {
		t.Fatalf("the schema has %d of the 5 tables", tables)
	}
	s := openSchema(t, schema, Options{})
	if s.SchemaVersion() != latest {
		t.Fatalf("SchemaVersion = %d, want %d", s.SchemaVersion(), latest)
	}
}

func TestMigrateConcurrent(t *testing.T) {
	schema := testSchema(t)
	const n = 4
	var wg sync.WaitGroup
	froms := make([]int, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			froms[i], _, errs[i] = Migrate(context.Background(), testDSN(t), Options{Schema: schema})
		}()
	}
	wg.Wait()
	migrated := 0
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate %d: %v", i, err)
		}
		if froms[i] == 0 {
			migrated++
		}
	}
	if migrated != 1 {
		t.Fatalf("%d of the concurrent calls found an empty schema, want exactly 1", migrated)
	}
	// Nodes opening at once on a fresh schema.
	fresh := testSchema(t)
	stores := make([]*Store, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = Open(context.Background(), testDSN(t), Options{Schema: fresh, MaxConns: 1})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
			continue
		}
		_ = stores[i].Close()
	}
}

func TestOpenSchemaTooNew(t *testing.T) {
	schema := testSchema(t)
	ctx := context.Background()
	if _, _, err := Migrate(ctx, testDSN(t), Options{Schema: schema}); err != nil {
		t.Fatal(err)
	}
	newer := LatestSchemaVersion() + 1
	if _, err := adminPool(t).Exec(ctx, `UPDATE `+pgx.Identifier{schema, "schema_version"}.Sanitize()+` SET version = $1`, newer); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, testDSN(t), Options{Schema: schema})
	if err == nil {
		_ = s.Close()
		t.Fatal("Open accepted a schema migrated by a newer version")
	}
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("Open: got %v, want ErrSchemaTooNew", err)
	}
	if _, _, err := Migrate(ctx, testDSN(t), Options{Schema: schema}); !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("Migrate: got %v, want ErrSchemaTooNew", err)
	}
	var v int
	if err := adminPool(t).QueryRow(ctx, `SELECT version FROM `+pgx.Identifier{schema, "schema_version"}.Sanitize()).Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != newer {
		t.Fatalf("the refused schema's version became %d", v)
	}
}

// TestOpenDSN opens the test database through a postgresql:// URL and
// through key=value pairs.
func TestOpenDSN(t *testing.T) {
	dsn := testDSN(t)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.ConnConfig
	kv := fmt.Sprintf("host=%s port=%d user=%s dbname=%s", c.Host, c.Port, c.User, c.Database)
	if c.Password != "" {
		kv += " password=" + c.Password
	}
	if u, err := url.Parse(dsn); err == nil && u.Query().Get("sslmode") != "" {
		kv += " sslmode=" + u.Query().Get("sslmode")
	}
	forms := []string{kv}
	if strings.HasPrefix(dsn, "postgres://") {
		forms = append(forms, "postgresql://"+strings.TrimPrefix(dsn, "postgres://"))
	}
	schema := testSchema(t)
	for _, form := range forms {
		s, err := Open(context.Background(), form, Options{Schema: schema, MaxConns: 1})
		if err != nil {
			t.Fatalf("Open(%q): %v", form, err)
		}
		mustApply(t, s, startOp("dsn-"+fmt.Sprint(len(form))))
		if _, err := s.RunGet(context.Background(), "dsn-"+fmt.Sprint(len(form)), ""); err != nil {
			t.Fatalf("RunGet through %q: %v", form, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenBadDSN(t *testing.T) {
	for _, dsn := range []string{"", "postgres://user:secret@[::1", "host=localhost port=notaport"} {
		s, err := Open(context.Background(), dsn, Options{})
		if err == nil {
			_ = s.Close()
			t.Fatalf("Open(%q) succeeded", dsn)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q): the error shows the password: %v", dsn, err)
		}
	}
}

// TestMigrateDueAt upgrades a version 1 database, whose due_at is a
// generated column, with an activity task in it: the value stays, and the
// statements of version 2 keep it as the generated column did.
func TestMigrateDueAt(t *testing.T) {
	schema := testSchema(t)
	ctx := context.Background()
	ms, err := migrations()
	if err != nil || len(ms) < 2 {
		t.Fatalf("migrations: %d, %v", len(ms), err)
	}
	pool := adminPool(t)
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ident := pgx.Identifier{schema}.Sanitize()
	for _, q := range []string{`CREATE SCHEMA ` + ident, `SET search_path = ` + ident, ms[0].sql,
		`CREATE TABLE schema_version (version integer NOT NULL)`, `INSERT INTO schema_version VALUES (1)`,
		`INSERT INTO runs (run_id, instance_id, name, status, is_current, parent_instance_id, parent_run_id, parent_seq,
			previous_run_id, task_queue, created_at, updated_at, completed_at, history_len, task_error, lease_owner, lease_until)
			VALUES ('r', 'i', 'wf', 'RUNNING', true, '', '', 0, '', '', now(), now(), '0001-01-01Z', 2, '', '', '0001-01-01Z')`,
		`INSERT INTO activity_tasks (run_id, seq, instance_id, name, task_queue, state, attempt, scheduled_at, visible_at,
			started_at, lease_owner, lease_until, deadline) VALUES ('r', 2, 'i', 'a', '', 'READY', 0, '2030-01-01Z', '2030-01-01Z',
			'0001-01-01Z', '', '0001-01-01Z', '0001-01-01Z')`,
		`RESET search_path`} {
		if _, err := conn.Exec(ctx, q); err != nil {
			conn.Release()
			t.Fatalf("%s: %v", firstLine(q), err)
		}
	}
	conn.Release()
	s := openSchema(t, schema, Options{})
	if s.SchemaVersion() != LatestSchemaVersion() {
		t.Fatalf("SchemaVersion %d", s.SchemaVersion())
	}
	due := func() time.Time {
		var d time.Time
		if err := s.pool.QueryRow(ctx, `SELECT due_at FROM activity_tasks WHERE run_id = 'r' AND seq = 2`).Scan(&d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if d := due(); !d.Equal(at) {
		t.Fatalf("due_at after the migration: %v, want %v", d, at)
	}
	if next, ok, err := s.NextWakeup(ctx, at.Add(-time.Second)); err != nil || !ok || !next.Equal(at) {
		t.Fatalf("NextWakeup: %v %v %v", next, ok, err)
	}
	// A claim (RUNNING until the lease's end), then a retry (READY at its
	// visibility).
	got, err := s.ActivityTaskClaim(ctx, &store.ActivityTaskClaimParams{Owner: "w", Max: 1, Now: at, LeaseUntil: at.Add(time.Minute)})
	if err != nil || len(got) != 1 {
		t.Fatalf("claim: %v %v", got, err)
	}
	if d := due(); !d.Equal(at.Add(time.Minute)) {
		t.Errorf("due_at of a claimed task: %v", d)
	}
	mustApply(t, s, &store.ActivityTaskRetryOp{RunID: "r", Seq: 2, Attempt: 1, VisibleAt: at.Add(time.Hour)})
	if d := due(); !d.Equal(at.Add(time.Hour)) {
		t.Errorf("due_at of a retried task: %v", d)
	}
}
