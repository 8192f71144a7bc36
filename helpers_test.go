package perdure_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/internal/pgtest"
	"github.com/perdure/perdure/store"
	"github.com/perdure/perdure/store/memstore"
	"github.com/perdure/perdure/store/pgstore"
	"github.com/perdure/perdure/store/sqlitestore"
	"github.com/perdure/perdure/worker"
)

// storeKinds are the stores every SDK test runs on: in memory, a real
// SQLite file, and PostgreSQL when PERDURE_TEST_POSTGRES names a server
// (a fresh schema per test). "nocache" runs on memory with the
// live-instance cache disabled, so every workflow task replays the whole
// history.
var storeKinds = func() []string {
	kinds := []string{"memory", "sqlite", "nocache"}
	if os.Getenv("PERDURE_TEST_POSTGRES") != "" {
		kinds = append(kinds, "postgres")
	}
	return kinds
}()

type env struct {
	t     *testing.T
	kind  string
	path  string
	st    store.Store
	c     *perdure.Client
	w     *worker.Worker
	ctx   context.Context
	opts  perdure.Options
	wopts worker.Options
}

func openStore(t *testing.T, kind, path string) store.Store {
	t.Helper()
	switch kind {
	case "postgres":
		st, err := pgstore.Open(context.Background(), path, pgstore.Options{MaxConns: 4})
		if err != nil {
			t.Fatalf("open postgres store: %v", err)
		}
		return st
	case "sqlite":
		st, err := sqlitestore.Open(path, sqlitestore.Options{})
		if err != nil {
			t.Fatalf("open sqlite store: %v", err)
		}
		return st
	default:
		return memstore.New()
	}
}

// eachStore runs fn as a parallel subtest on every store kind.
func eachStore(t *testing.T, fn func(t *testing.T, kind string)) {
	t.Helper()
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			fn(t, kind)
		})
	}
}

// newEnv opens a store, a client and a worker with what register adds, and
// starts the worker. Everything is closed at the end of the test.
func newEnv(t *testing.T, kind string, register func(w *worker.Worker)) *env {
	t.Helper()
	e := &env{t: t, kind: kind, path: filepath.Join(t.TempDir(), "perdure.db")}
	e.opts = perdure.Options{LeaseDuration: 2 * time.Second, WorkflowTaskRetry: 50 * time.Millisecond, Logger: testLogger()}
	if kind == "nocache" {
		e.opts.CacheSize = -1
	}
	if kind == "postgres" {
		e.path = pgtest.Schema(t)
	}
	e.st = openStore(t, kind, e.path)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	e.ctx = ctx
	t.Cleanup(cancel)
	e.start(register)
	t.Cleanup(e.close)
	return e
}

func (e *env) start(register func(w *worker.Worker)) {
	e.t.Helper()
	opts := e.opts
	opts.Store = e.st
	c, err := perdure.NewClient(opts)
	if err != nil {
		e.t.Fatalf("new client: %v", err)
	}
	e.c = c
	e.w = worker.New(c, e.wopts)
	if register != nil {
		register(e.w)
		if err := e.w.Start(); err != nil {
			e.t.Fatalf("start worker: %v", err)
		}
	}
}

// stop stops the worker and the client but keeps the store.
func (e *env) stop() {
	if e.w != nil {
		_ = e.w.Stop()
	}
	if e.c != nil {
		_ = e.c.Close()
	}
	e.w, e.c = nil, nil
}

// restart simulates a process restart: new client and worker on the same
// store (for SQLite, the same file reopened).
func (e *env) restart(register func(w *worker.Worker)) {
	e.t.Helper()
	e.stop()
	if e.kind == "sqlite" || e.kind == "postgres" {
		_ = e.st.Close()
		e.st = openStore(e.t, e.kind, e.path)
	}
	e.start(register)
}

func (e *env) close() {
	e.stop()
	if e.st != nil {
		_ = e.st.Close()
	}
}

// testLogger discards engine logs unless PERDURE_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("PERDURE_TEST_LOG") != "" {
		return slog.Default()
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// waitDone waits for the instance and returns its final status.
func (e *env) waitDone(id string) *perdure.Instance {
	e.t.Helper()
	inst, err := e.c.WaitForCompletion(e.ctx, id)
	if err != nil {
		e.t.Fatalf("wait for %s: %v", id, err)
	}
	return inst
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// mustReg fails loudly on a registration error inside a register callback.
func mustReg(err error) {
	if err != nil {
		panic(err)
	}
}
