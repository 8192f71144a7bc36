package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/server"
	"github.com/perdure/perdure/server/api"
	"github.com/perdure/perdure/store/sqlitestore"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// newServerOnly runs the engine and the HTTP API on a SQLite file, with no
// worker in the server's process.
func newServerOnly(t *testing.T) *env {
	t.Helper()
	st, err := sqlitestore.Open(filepath.Join(t.TempDir(), "perdure.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := perdure.NewClient(perdure.Options{Store: st, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	h, err := server.New(server.Config{Client: c, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.RegisterOnShutdown(h.Shutdown)
	srv.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	e := &env{t: t, st: st, c: c, srv: srv, url: srv.URL, ctx: ctx, client: srv.Client()}
	e.client.Timeout = 30 * time.Second
	t.Cleanup(func() {
		h.Shutdown()
		srv.Close()
		_ = c.Close()
		_ = st.Close()
		cancel()
	})
	return e
}

// remoteWorker connects to e as a remote worker process named node, and
// starts a worker with what register adds.
func remoteWorker(t *testing.T, e *env, node string, opts worker.Options, register func(*worker.Worker)) (*perdure.Client, *worker.Worker) {
	t.Helper()
	c, err := perdure.Connect(e.ctx, e.url, perdure.Options{NodeID: node, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	opts.ShutdownGrace = time.Second
	w := worker.New(c, opts)
	register(w)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = w.Stop()
		_ = c.Close()
	})
	return c, w
}

func (e *env) workers() []api.Worker {
	e.t.Helper()
	var list api.WorkerList
	e.do("GET", "/api/v1/workers", nil).want(e.t, http.StatusOK, &list)
	if list.Schema != api.SchemaWorkerList {
		e.t.Fatalf("schema %q", list.Schema)
	}
	return list.Workers
}

// findWorker returns the listed worker whose id starts with prefix.
func findWorker(ws []api.Worker, prefix string) *api.Worker {
	for i := range ws {
		if strings.HasPrefix(ws[i].ID, prefix) {
			return &ws[i]
		}
	}
	return nil
}

func Other(ctx workflow.Context, n int) (int, error) { return n, nil }

// A start for a workflow that no connected worker serves stays PENDING,
// visibly; the list of workers says who serves what; once a worker that
// serves it connects, it completes, and the server's long poll sees it at
// once.
func TestRemoteWorkerRouting(t *testing.T) {
	t.Parallel()
	e := newServerOnly(t)
	remoteWorker(t, e, "other-node", worker.Options{}, func(w *worker.Worker) {
		must(t, worker.RegisterWorkflow(w, Other))
	})
	eventually(t, "the first worker polls", func() bool {
		w := findWorker(e.workers(), "other-node/")
		return w != nil && w.Polling
	})

	inst := e.start("Greet", "remote", "greet-1")
	time.Sleep(300 * time.Millisecond)
	if got := e.status(inst.InstanceID); got != api.Status("PENDING") {
		t.Fatalf("a start no worker serves: status %s, want PENDING", got)
	}
	var list api.InstanceList
	e.do("GET", "/api/v1/instances?status=PENDING", nil).want(t, http.StatusOK, &list)
	if len(list.Instances) != 1 || list.Instances[0].InstanceID != "greet-1" {
		t.Fatalf("PENDING instances: %+v", list.Instances)
	}
	other := findWorker(e.workers(), "other-node/")
	if other == nil || !slices.Equal(other.Workflows, []string{"Other"}) || len(other.Activities) != 0 ||
		!slices.Equal(other.TaskQueues, []string{""}) || !other.Polling || other.Process != "other-node" {
		t.Fatalf("the first worker is listed as %+v", other)
	}

	remoteWorker(t, e, "greeter", worker.Options{}, func(w *worker.Worker) {
		must(t, worker.RegisterWorkflow(w, Greet))
		must(t, worker.RegisterActivity(w, Hello))
	})
	began := time.Now()
	done := e.waitDone("greet-1")
	if done.Status != api.Status("COMPLETED") || string(done.Output) != `"Hello, remote"` {
		t.Fatalf("after a worker serving Greet connected: %s %s", done.Status, done.Output)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("the workflow took %v once its worker connected", d)
	}
	ws := e.workers()
	greeter := findWorker(ws, "greeter/")
	if greeter == nil || !slices.Equal(greeter.Workflows, []string{"Greet"}) {
		t.Fatalf("workers: %+v", ws)
	}
	if got := e.srv.Config.Handler.(*server.Server).RemoteWorkflows(); !slices.Equal(got, []string{"Greet", "Other"}) {
		t.Fatalf("RemoteWorkflows: %v, want [Greet Other]", got)
	}
	eventually(t, "the greeter's activity loop polls", func() bool {
		g := findWorker(e.workers(), "greeter/")
		return g != nil && slices.Equal(g.Activities, []string{"Hello"})
	})

	// A start while the worker is connected runs at once.
	inst = e.start("Greet", "again", "greet-2")
	if done := e.waitDone(inst.InstanceID); string(done.Output) != `"Hello, again"` {
		t.Fatalf("second start: %s %s", done.Status, done.Output)
	}
}

func PlatformWorkflow(ctx workflow.Context, in string) ([]string, error) {
	a, err := workflow.ExecuteActivityByName[string](ctx, "Where", in).Get(ctx)
	if err != nil {
		return nil, err
	}
	gpu := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{TaskQueue: "gpu"})
	b, err := workflow.ExecuteActivityByName[string](gpu, "Where", in).Get(ctx)
	if err != nil {
		return nil, err
	}
	return []string{a, b}, nil
}

// An activity on a task queue runs on the remote worker of that queue,
// even when another worker registers the same name; a worker that stops
// leaves the list of workers.
func TestRemoteWorkerTaskQueues(t *testing.T) {
	t.Parallel()
	e := newServerOnly(t)
	where := func(tag string) func(context.Context, string) (string, error) {
		return func(_ context.Context, in string) (string, error) { return in + "@" + tag, nil }
	}
	remoteWorker(t, e, "main", worker.Options{}, func(w *worker.Worker) {
		must(t, worker.RegisterWorkflow(w, PlatformWorkflow))
		must(t, worker.RegisterActivityAs(w, "Where", where("main")))
	})
	_, gpu := remoteWorker(t, e, "gpu-box", worker.Options{TaskQueue: "gpu"}, func(w *worker.Worker) {
		must(t, worker.RegisterActivityAs(w, "Where", where("gpu-box")))
	})
	inst := e.start("PlatformWorkflow", "job", "")
	done := e.waitDone(inst.InstanceID)
	var got []string
	if err := json.Unmarshal(done.Output, &got); err != nil || !slices.Equal(got, []string{"job@main", "job@gpu-box"}) {
		t.Fatalf("output %s (%s), want the second activity on the gpu worker", done.Output, done.Status)
	}
	eventually(t, "the gpu worker is listed", func() bool {
		g := findWorker(e.workers(), "gpu-box/")
		return g != nil && slices.Equal(g.TaskQueues, []string{"gpu"}) && slices.Equal(g.Activities, []string{"Where"})
	})
	must(t, gpu.Stop())
	if g := findWorker(e.workers(), "gpu-box/"); g != nil {
		t.Fatalf("a stopped worker is still listed: %+v", g)
	}
}

// The worker API refuses requests a worker has no business making, and
// requests without its protocol header, in the native error format.
func TestWorkerAPIRefusals(t *testing.T) {
	t.Parallel()
	e := newServerOnly(t)
	proto := []string{"Perdure-Worker-Protocol", "1"}
	e.do("POST", "/api/v1/worker/leases/release", map[string]string{"owner": ""}, proto...).
		wantError(t, http.StatusBadRequest, "INVALID_ARGUMENT", "owner is required")
	e.do("POST", "/api/v1/worker/runs/get", map[string]string{"instanceId": "x"}).
		wantError(t, http.StatusBadRequest, "INVALID_ARGUMENT", "Perdure-Worker-Protocol")
	e.do("POST", "/api/v1/worker/runs/get", map[string]string{"instanceId": "x"}, "Perdure-Worker-Protocol", "7").
		wantError(t, http.StatusBadRequest, "INVALID_ARGUMENT", "version \"7\"")
	e.do("POST", "/api/v1/worker/apply", `{"ops":[{"type":"Purge","op":{}}]}`, proto...).
		wantError(t, http.StatusBadRequest, "INVALID_ARGUMENT", `unknown op type "Purge"`)
	e.do("POST", "/api/v1/worker/apply", `{"ops":[{"type":"MessageSend","op":{"Bogus":1}}]}`, proto...).
		wantError(t, http.StatusBadRequest, "INVALID_ARGUMENT", "Bogus")
	e.do("POST", "/api/v1/worker/workflow-tasks/claim", `{"params":{"Max":1}}`, proto...).
		wantError(t, http.StatusBadRequest, "INVALID_ARGUMENT", "Owner is required")
	e.do("POST", "/api/v1/worker/runs/get", `{"instanceId":"nope"}`, proto...).
		wantError(t, http.StatusNotFound, "NOT_FOUND")
	e.do("DELETE", "/api/v1/worker/apply", nil, proto...).
		wantError(t, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
