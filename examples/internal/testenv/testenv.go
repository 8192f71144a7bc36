// Package testenv runs the examples' workflows in tests: an engine on an
// in-memory store with a real worker, and a log recorder that keeps every
// slog record the workflows and activities write.
package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/store/memstore"
	"github.com/perdure/perdure/worker"
)

// Env is a running engine with one worker. PERDURE_TEST_NOCACHE=1 disables
// the engine's instance cache, so that every workflow task replays. Everything is closed at the end
// of the test.
type Env struct {
	T        *testing.T
	Ctx      context.Context
	Store    *memstore.Store
	Client   *perdure.Client
	Worker   *worker.Worker
	Logs     *Recorder
	register func(*worker.Worker) error
}

var seq atomic.Int64

// New starts an engine on a fresh memstore and a worker with what register
// adds.
func New(t *testing.T, register func(*worker.Worker) error) *Env {
	t.Helper()
	return NewWithLogs(t, NewRecorder(), register)
}

// NewWithLogs is New with the recorder the engine logs to.
func NewWithLogs(t *testing.T, logs *Recorder, register func(*worker.Worker) error) *Env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	t.Cleanup(cancel)
	e := &Env{T: t, Ctx: ctx, Store: memstore.New(), Logs: logs, register: register}
	e.start()
	t.Cleanup(func() {
		e.stop()
		_ = e.Store.Close()
	})
	return e
}

func (e *Env) start() {
	e.T.Helper()
	logger := e.Logs.Logger()
	opts := perdure.Options{Store: e.Store, Logger: logger, LeaseDuration: 2 * time.Second, WorkflowTaskRetry: 50 * time.Millisecond}
	if os.Getenv("PERDURE_TEST_NOCACHE") != "" {
		opts.CacheSize = -1 // every workflow task replays the whole history
	}
	c, err := perdure.NewClient(opts)
	if err != nil {
		e.T.Fatalf("new client: %v", err)
	}
	w := worker.New(c, worker.Options{Logger: logger, ShutdownGrace: 100 * time.Millisecond})
	if err := e.register(w); err != nil {
		e.T.Fatalf("register: %v", err)
	}
	if err := w.Start(); err != nil {
		e.T.Fatalf("start worker: %v", err)
	}
	e.Client, e.Worker = c, w
}

func (e *Env) stop() {
	if e.Worker != nil {
		_ = e.Worker.Stop()
	}
	if e.Client != nil {
		_ = e.Client.Close()
	}
	e.Worker, e.Client = nil, nil
}

// Restart simulates a crash and restart of the process: a new client and
// worker on the same store.
func (e *Env) Restart() {
	e.T.Helper()
	e.stop()
	e.start()
}

// Start starts the workflow registered as name with input under a fresh
// instance id and returns the id. A json.RawMessage input is passed as is.
func (e *Env) Start(name string, input any) string {
	e.T.Helper()
	id := fmt.Sprintf("%s-%d", strings.ReplaceAll(e.T.Name(), "/", "-"), seq.Add(1))
	var err error
	if raw, ok := input.(json.RawMessage); ok {
		_, _, err = e.Client.StartWorkflowRaw(e.Ctx, name, raw, perdure.StartOptions{InstanceID: id})
	} else {
		_, err = e.Client.StartWorkflow(e.Ctx, name, input, perdure.StartOptions{InstanceID: id})
	}
	if err != nil {
		e.T.Fatalf("start %s: %v", name, err)
	}
	return id
}

// Wait waits for the instance to finish and returns its final state.
func (e *Env) Wait(id string) *perdure.Instance {
	e.T.Helper()
	inst, err := e.Client.WaitForCompletion(e.Ctx, id)
	if err != nil {
		e.T.Fatalf("wait for %s: %v", id, err)
	}
	return inst
}

// Run starts the workflow, waits for it and returns its final state.
func (e *Env) Run(name string, input any) *perdure.Instance {
	e.T.Helper()
	return e.Wait(e.Start(name, input))
}

// Result runs the workflow, requires it to complete and decodes its output.
func Result[T any](e *Env, name string, input any) T {
	e.T.Helper()
	inst := e.Run(name, input)
	if inst.Status != perdure.StatusCompleted {
		e.T.Fatalf("%s finished %s: %+v", name, inst.Status, inst.Failure)
	}
	var out T
	if err := inst.DecodeOutput(&out); err != nil {
		e.T.Fatalf("decode output %s: %v", inst.Output, err)
	}
	return out
}

// Eventually polls cond until it holds, failing the test after 20s.
func (e *Env) Eventually(what string, cond func() bool) {
	e.T.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.T.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Record is one log record.
type Record struct {
	Level   slog.Level
	Message string
	Attrs   map[string]string
}

// Recorder is an slog handler target that keeps every record. Set
// PERDURE_TEST_LOG=1 to also see the records on stderr.
type Recorder struct {
	mu      sync.Mutex
	records []Record
	tee     slog.Handler
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder {
	r := &Recorder{}
	if os.Getenv("PERDURE_TEST_LOG") != "" {
		r.tee = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	return r
}

// Logger returns a logger writing to the recorder.
func (r *Recorder) Logger() *slog.Logger { return slog.New(&handler{r: r, tee: r.tee}) }

// Records returns a copy of the records so far.
func (r *Recorder) Records() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.records)
}

// Messages returns the messages of the records whose message contains
// substr, in order.
func (r *Recorder) Messages(substr string) []string {
	var out []string
	for _, rec := range r.Records() {
		if strings.Contains(rec.Message, substr) {
			out = append(out, rec.Message)
		}
	}
	return out
}

// Prefixed returns the messages that start with prefix, in order.
func (r *Recorder) Prefixed(prefix string) []string {
	var out []string
	for _, rec := range r.Records() {
		if strings.HasPrefix(rec.Message, prefix) {
			out = append(out, rec.Message)
		}
	}
	return out
}

// Count returns how many records have exactly msg as message.
func (r *Recorder) Count(msg string) int {
	n := 0
	for _, rec := range r.Records() {
		if rec.Message == msg {
			n++
		}
	}
	return n
}

// Find returns the first record whose message is msg.
func (r *Recorder) Find(msg string) (Record, bool) {
	for _, rec := range r.Records() {
		if rec.Message == msg {
			return rec, true
		}
	}
	return Record{}, false
}

// Dump returns every message, one a line, for failure reports.
func (r *Recorder) Dump() string {
	var b strings.Builder
	for _, rec := range r.Records() {
		fmt.Fprintf(&b, "%s %s %v\n", rec.Level, rec.Message, rec.Attrs)
	}
	return b.String()
}

type handler struct {
	r      *Recorder
	attrs  []slog.Attr
	prefix string
	tee    slog.Handler
}

func (h *handler) Enabled(context.Context, slog.Level) bool { return true }

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	attrs := map[string]string{}
	for _, a := range h.attrs {
		attrs[a.Key] = a.Value.String()
	}
	rec.Attrs(func(a slog.Attr) bool {
		attrs[h.prefix+a.Key] = a.Value.String()
		return true
	})
	h.r.mu.Lock()
	h.r.records = append(h.r.records, Record{Level: rec.Level, Message: rec.Message, Attrs: attrs})
	h.r.mu.Unlock()
	if h.tee != nil {
		return h.tee.Handle(ctx, rec)
	}
	return nil
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = slices.Clone(h.attrs)
	for _, a := range as {
		a.Key = h.prefix + a.Key
		n.attrs = append(n.attrs, a)
	}
	if h.tee != nil {
		n.tee = h.tee.WithAttrs(as)
	}
	return &n
}

func (h *handler) WithGroup(name string) slog.Handler {
	n := *h
	n.prefix = h.prefix + name + "."
	if h.tee != nil {
		n.tee = h.tee.WithGroup(name)
	}
	return &n
}
