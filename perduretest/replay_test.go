package perduretest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/perduretest"
	"github.com/perdure/perdure/server/api"
	"github.com/perdure/perdure/store/memstore"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// activityCalls counts the calls of Charge, so that tests can check that a
// replay runs no activity.
var activityCalls atomic.Int64

// Charge is the sample activity.
func Charge(_ context.Context, amount int) (string, error) {
	activityCalls.Add(1)
	return fmt.Sprintf("charged %d", amount), nil
}

// Ship is the sample child workflow.
func Ship(ctx workflow.Context, item string) (string, error) {
	return "shipped " + item, nil
}

// Order is the sample workflow: an activity, a side effect, a timer, a
// child workflow and an event.
func Order(ctx workflow.Context, amount int) (string, error) {
	receipt, err := workflow.ExecuteActivity(ctx, Charge, amount).Get(ctx)
	if err != nil {
		return "", err
	}
	code, err := workflow.Run(ctx, "code", func(context.Context) (string, error) { return "c-1", nil })
	if err != nil {
		return "", err
	}
	if err := workflow.Sleep(ctx, time.Millisecond); err != nil {
		return "", err
	}
	shipped, err := workflow.ExecuteChildWorkflow(ctx, Ship, code).Get(ctx)
	if err != nil {
		return "", err
	}
	who, err := workflow.WaitEvent[string](ctx, "confirm").Get(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s, %s, confirmed by %s", receipt, shipped, who), nil
}

// OrderWithoutTimer drops the timer: the child is now step 4, not the
// timer of step 3.
func OrderWithoutTimer(ctx workflow.Context, amount int) (string, error) {
	receipt, err := workflow.ExecuteActivity(ctx, Charge, amount).Get(ctx)
	if err != nil {
		return "", err
	}
	code, err := workflow.Run(ctx, "code", func(context.Context) (string, error) { return "c-1", nil })
	if err != nil {
		return "", err
	}
	shipped, err := workflow.ExecuteChildWorkflow(ctx, Ship, code).Get(ctx)
	if err != nil {
		return "", err
	}
	who, err := workflow.WaitEvent[string](ctx, "confirm").Get(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s, %s, confirmed by %s", receipt, shipped, who), nil
}

// OrderNewWording makes the same steps and returns another text.
func OrderNewWording(ctx workflow.Context, amount int) (string, error) {
	out, err := Order(ctx, amount)
	return strings.ToUpper(out), err
}

var sideEffects atomic.Int64

// OrderCountingSideEffects counts the calls of its side effect's function.
func OrderCountingSideEffects(ctx workflow.Context, amount int) (string, error) {
	receipt, err := workflow.ExecuteActivity(ctx, Charge, amount).Get(ctx)
	if err != nil {
		return "", err
	}
	code, err := workflow.Run(ctx, "code", func(context.Context) (string, error) { sideEffects.Add(1); return "c-2", nil })
	if err != nil {
		return "", err
	}
	if err := workflow.Sleep(ctx, time.Millisecond); err != nil {
		return "", err
	}
	shipped, err := workflow.ExecuteChildWorkflow(ctx, Ship, code).Get(ctx)
	if err != nil {
		return "", err
	}
	who, err := workflow.WaitEvent[string](ctx, "confirm").Get(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s, %s, confirmed by %s", receipt, shipped, who), nil
}

// seen is the Info the workflow code saw last.
var seen atomic.Pointer[workflow.Info]

// WhoAmI returns its instance id, run id and name.
func WhoAmI(ctx workflow.Context, _ struct{}) (string, error) {
	i := workflow.GetInfo(ctx)
	seen.Store(&i)
	return i.InstanceID + " " + i.RunID + " " + i.WorkflowName, nil
}

// Loop continues as new until n reaches 3.
func Loop(ctx workflow.Context, n int) (int, error) {
	if n < 3 {
		return 0, workflow.ContinueAsNew(ctx, n+1)
	}
	return n, nil
}

func registerAll(w *worker.Worker) error {
	return errors.Join(
		worker.RegisterWorkflow(w, Order),
		worker.RegisterWorkflow(w, Ship),
		worker.RegisterWorkflow(w, WhoAmI),
		worker.RegisterWorkflow(w, Loop),
		worker.RegisterActivity(w, Charge),
	)
}

// recording is a real worker on a memstore that ran the sample workflows:
// order-1 (finished), order-2 (waiting for its confirmation), who-1 and
// loop-1 (three runs).
type recording struct {
	c                  *perdure.Client
	done, waiting, who *api.History
}

var (
	recordOnce sync.Once
	rec        *recording
	recErr     error
	closeRec   func()
)

func TestMain(m *testing.M) {
	code := m.Run()
	if closeRec != nil {
		closeRec()
	}
	os.Exit(code)
}

// recorded runs the sample workflows once for all tests.
func recorded(t *testing.T) *recording {
	t.Helper()
	recordOnce.Do(func() { rec, recErr = record() })
	if recErr != nil {
		t.Fatal(recErr)
	}
	return rec
}

func record() (*recording, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := memstore.New()
	log := slog.New(slog.DiscardHandler)
	c, err := perdure.NewClient(perdure.Options{Store: st, Logger: log})
	if err != nil {
		return nil, err
	}
	w := worker.New(c, worker.Options{Logger: log})
	if err := registerAll(w); err != nil {
		return nil, err
	}
	if err := w.Start(); err != nil {
		return nil, err
	}
	closeRec = func() { _ = w.Stop(); _ = c.Close(); _ = st.Close() }
	for _, s := range []struct {
		id string
		wf any
		in any
	}{{"order-1", Order, 42}, {"order-2", Order, 7}, {"who-1", WhoAmI, struct{}{}}, {"loop-1", Loop, 1}} {
		if _, err := c.StartWorkflow(ctx, s.wf, s.in, perdure.StartOptions{InstanceID: s.id}); err != nil {
			return nil, err
		}
	}
	if err := c.RaiseEvent(ctx, "order-1", "confirm", "Ann"); err != nil {
		return nil, err
	}
	for _, id := range []string{"order-1", "who-1", "loop-1"} {
		if inst, err := c.WaitForCompletion(ctx, id); err != nil || inst.Status != perdure.StatusCompleted {
			return nil, fmt.Errorf("%s: %v %+v", id, err, inst)
		}
	}
	out := &recording{c: c}
	for { // order-2 waits for its confirmation once its child is done
		h, err := perduretest.ExportHistory(ctx, c, "order-2", "")
		if err != nil {
			return nil, err
		}
		if last := h.Events[len(h.Events)-1]; last.Type == "SubOrchestrationInstanceCompleted" {
			out.waiting = h
			break
		}
		select {
		case <-ctx.Done():
			return nil, errors.New("order-2 did not reach its event wait")
		case <-time.After(5 * time.Millisecond):
		}
	}
	if out.done, err = perduretest.ExportHistory(ctx, c, "order-1", ""); err != nil {
		return nil, err
	}
	if out.who, err = perduretest.ExportHistory(ctx, c, "who-1", ""); err != nil {
		return nil, err
	}
	return out, nil
}

func histories(t *testing.T) (done, waiting, whoAmI *api.History) {
	t.Helper()
	r := recorded(t)
	return r.done, r.waiting, r.who
}

func newReplayer(t *testing.T, order func(workflow.Context, int) (string, error)) *perduretest.Replayer {
	t.Helper()
	r := perduretest.NewReplayer()
	err := errors.Join(
		perduretest.RegisterWorkflowAs(r, "Order", order),
		perduretest.RegisterWorkflow(r, Ship),
		perduretest.RegisterWorkflow(r, WhoAmI),
	)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func marshal(t *testing.T, h *api.History) []byte {
	t.Helper()
	b, err := perduretest.MarshalHistory(h)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReplayReproducesRecordedRuns(t *testing.T) {
	done, waiting, who := histories(t)
	r := newReplayer(t, Order)
	calls := activityCalls.Load()
	for _, h := range []*api.History{done, waiting, who} {
		if err := r.ReplayHistory(h); err != nil {
			t.Fatalf("%s: %v", h.InstanceID, err)
		}
		b := marshal(t, h)
		if err := r.ReplayJSON(b); err != nil {
			t.Fatalf("%s as JSON: %v", h.InstanceID, err)
		}
		if err := r.ReplayFile(writeFile(t, t.TempDir(), "x.history.json", b)); err != nil {
			t.Fatalf("%s from a file: %v", h.InstanceID, err)
		}
		events, err := json.Marshal(h.Events)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.ReplayJSON(events); err != nil {
			t.Fatalf("%s as a bare array of events: %v", h.InstanceID, err)
		}
	}
	if n := activityCalls.Load() - calls; n != 0 {
		t.Fatalf("the replays ran the activity %d times", n)
	}
}

func TestReplayGivesTheCodeTheRecordedInfo(t *testing.T) {
	_, _, h := histories(t)
	r := newReplayer(t, Order)
	seen.Store(nil)
	if err := r.ReplayHistory(h); err != nil {
		t.Fatal(err)
	}
	got := seen.Load()
	if got == nil || got.InstanceID != "who-1" || got.RunID != h.RunID || got.WorkflowName != "WhoAmI" || got.CreatedAt.IsZero() {
		t.Fatalf("the code saw %+v; recorded run %s", got, h.RunID)
	}
	// Another run id changes what the code returns: the replay says so.
	var doc api.History
	if err := json.Unmarshal(marshal(t, h), &doc); err != nil {
		t.Fatal(err)
	}
	doc.RunID, doc.Events[0].RunID = "other-run", "other-run"
	err := r.ReplayHistory(&doc)
	var oe *perduretest.OutcomeError
	if !errors.As(err, &oe) || !strings.Contains(oe.Got, "other-run") {
		t.Fatalf("got %v, want an OutcomeError about the run id", err)
	}
}

func TestReplayDoesNotRunSideEffects(t *testing.T) {
	done, _, _ := histories(t)
	r := newReplayer(t, OrderCountingSideEffects)
	err := r.ReplayHistory(done)
	if n := sideEffects.Load(); n != 0 {
		t.Fatalf("the side effect ran %d times", n)
	}
	// The recorded value "c-1", not the new one, reaches the child.
	if err != nil {
		t.Fatal(err)
	}
}

func TestReplayReportsABreakingChange(t *testing.T) {
	done, waiting, _ := histories(t)
	r := newReplayer(t, OrderWithoutTimer)
	path := writeFile(t, t.TempDir(), "order.history.json", marshal(t, done))
	err := r.ReplayFile(path)
	var re *perduretest.ReplayError
	var nd *perduretest.NondeterminismError
	if !errors.As(err, &re) || !errors.As(err, &nd) {
		t.Fatalf("got %v, want a ReplayError wrapping a NondeterminismError", err)
	}
	if re.File != path || re.InstanceID != "order-1" || re.RunID != done.RunID || re.WorkflowName != "Order" {
		t.Fatalf("error names %+v", re)
	}
	if nd.Step != 3 || nd.Recorded != "timer of 1ms" || nd.Got != `child workflow "Ship"` || !strings.HasPrefix(nd.GotAt, "perduretest/replay_test.go:") {
		t.Fatalf("diff %+v", nd)
	}
	msg := err.Error()
	for _, want := range []string{"replay of " + path + " (workflow Order, instance order-1, run " + done.RunID + "):",
		"non-deterministic workflow code at step 3:", "history recorded: timer of 1ms (at perduretest/replay_test.go:",
		`code asked for:   child workflow "Ship" (at perduretest/replay_test.go:`, "workflow.GetVersion"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("message lacks %q:\n%s", want, msg)
		}
	}
	// The running order has passed the change too.
	if err := r.ReplayHistory(waiting); !errors.As(err, &nd) {
		t.Fatalf("waiting run: got %v", err)
	}
}

func TestReplayReportsAnotherResult(t *testing.T) {
	done, waiting, _ := histories(t)
	r := newReplayer(t, OrderNewWording)
	err := r.ReplayHistory(done)
	var oe *perduretest.OutcomeError
	if !errors.As(err, &oe) {
		t.Fatalf("got %v, want an OutcomeError", err)
	}
	for _, want := range []string{`history recorded: completed with result "charged 42, shipped c-1, confirmed by Ann"`,
		`code returned:    completed with result "CHARGED 42, SHIPPED C-1, CONFIRMED BY ANN"`} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("message lacks %q:\n%s", want, err)
		}
	}
	// The running order has not produced a result yet: nothing differs.
	if err := r.ReplayHistory(waiting); err != nil {
		t.Fatal(err)
	}
}

func TestReplayPanic(t *testing.T) {
	done, _, _ := histories(t)
	r := perduretest.NewReplayer()
	err := perduretest.RegisterWorkflowAs(r, "Order", func(ctx workflow.Context, amount int) (string, error) {
		panic("boom")
	})
	if err != nil {
		t.Fatal(err)
	}
	var pe *perduretest.PanicError
	if err := r.ReplayHistory(done); !errors.As(err, &pe) || pe.Value != "boom" {
		t.Fatalf("got %v", err)
	}
}

func TestReplayNamesTheRegisteredWorkflows(t *testing.T) {
	done, _, _ := histories(t)
	r := perduretest.NewReplayer()
	if err := perduretest.RegisterWorkflow(r, Ship); err != nil {
		t.Fatal(err)
	}
	err := r.ReplayHistory(done)
	if !errors.Is(err, perduretest.ErrNotRegistered) || !strings.Contains(err.Error(), `workflow "Order"; registered: Ship.`) {
		t.Fatalf("got %v", err)
	}
	err = perduretest.NewReplayer().ReplayHistory(done)
	if !strings.Contains(err.Error(), "registered: none.") {
		t.Fatalf("got %v", err)
	}
}

func TestReplayHintsAtActivityNames(t *testing.T) {
	// A worker that registered Charge as "charge_card", and a replayer that
	// does not know that name: the code calls the activity "Charge".
	done, _, _ := histories(t)
	var doc api.History
	if err := json.Unmarshal(marshal(t, done), &doc); err != nil {
		t.Fatal(err)
	}
	for _, ev := range doc.Events {
		if ev.Name == "Charge" {
			ev.Name = "charge_card"
		}
	}
	err := newReplayer(t, Order).ReplayHistory(&doc)
	if err == nil || !strings.Contains(err.Error(), `Hint: the replayer has no activity "charge_card" or "Charge" registered`) {
		t.Fatalf("got %v", err)
	}
	// With the activity registered, a difference is a real one: no hint.
	r := newReplayer(t, Order)
	if err := worker.RegisterActivity(r.Worker(), Charge); err != nil {
		t.Fatal(err)
	}
	if err := r.ReplayHistory(&doc); err == nil || strings.Contains(err.Error(), "Hint") {
		t.Fatalf("got %v", err)
	}
}

func TestParseHistoryRejectsWhatIsNotAWholeHistory(t *testing.T) {
	done, _, _ := histories(t)
	good := marshal(t, done)
	edit := func(f func(h map[string]any)) []byte {
		var h map[string]any
		if err := json.Unmarshal(good, &h); err != nil {
			t.Fatal(err)
		}
		f(h)
		b, _ := json.Marshal(h)
		return b
	}
	events := func(h map[string]any) []any { return h["events"].([]any) }
	cases := map[string]struct {
		doc  []byte
		want string
	}{
		"empty":          {nil, "the document is empty"},
		"not json":       {[]byte("schema: perdure"), "not JSON"},
		"broken json":    {good[:len(good)/2], "not valid JSON at byte"},
		"no schema":      {[]byte(`{"events":[]}`), `has no "schema"`},
		"other schema":   {edit(func(h map[string]any) { h["schema"] = "perdure.instance/v1" }), `schema is "perdure.instance/v1", not "perdure.history/v1"`},
		"one page":       {edit(func(h map[string]any) { h["nextPageToken"] = "4" }), "one page of the history"},
		"no events":      {edit(func(h map[string]any) { h["events"] = []any{} }), "no events"},
		"missing events": {edit(func(h map[string]any) { h["events"] = events(h)[2:] }), "event 1 has id 3"},
		"no start": {edit(func(h map[string]any) {
			ev := events(h)
			ev[0].(map[string]any)["type"] = "TaskScheduled"
		}), "event 1 is TaskScheduled, want ExecutionStarted"},
		"other run": {edit(func(h map[string]any) { h["runId"] = "r-2" }), `run id is "r-2" but its ExecutionStarted event says`},
		"events after the end": {edit(func(h map[string]any) {
			ev := events(h)
			last := ev[len(ev)-1].(map[string]any)
			ev[len(ev)-1], last["id"] = ev[len(ev)-2], float64(len(ev)-1)
			ev[len(ev)-2] = last
			ev[len(ev)-1].(map[string]any)["id"] = float64(len(ev))
		}), "ends the run (ExecutionCompleted) but 1 more events follow it"},
		"truncated": {edit(func(h map[string]any) { h["events"] = events(h)[:3] }), "is COMPLETED but its history does not end with its completion"},
	}
	r := newReplayer(t, Order)
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := perduretest.ParseHistory(c.doc)
			if !errors.Is(err, perduretest.ErrInvalidHistory) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an ErrInvalidHistory saying %q", err, c.want)
			}
			if err := r.ReplayJSON(c.doc); !errors.Is(err, perduretest.ErrInvalidHistory) {
				t.Fatalf("ReplayJSON: %v", err)
			}
		})
	}
	path := writeFile(t, t.TempDir(), "bad.history.json", cases["one page"].doc)
	if err := r.ReplayFile(path); err == nil || !strings.HasPrefix(err.Error(), path+": invalid history: ") {
		t.Fatalf("got %v, want the file named first", err)
	}
	if _, err := perduretest.LoadHistory(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Fatal("no error for a missing file")
	}
}

func TestReplayRunTerminatedBeforeItStarted(t *testing.T) {
	doc := `{"schema":"perdure.history/v1","instanceId":"order-9","runId":"r-9","workflowName":"Order","status":"TERMINATED","events":[
		{"id":1,"type":"ExecutionTerminated","time":"2026-01-02T10:00:00Z","reason":"not needed"},
		{"id":2,"type":"ExecutionCompleted","time":"2026-01-02T10:00:00Z","status":"TERMINATED","reason":"not needed",
		 "failure":{"message":"terminated: not needed","type":"Terminated"}}]}`
	if err := newReplayer(t, Order).ReplayJSON([]byte(doc)); err != nil {
		t.Fatal(err)
	}
	if _, err := perduretest.ParseHistory([]byte(strings.Replace(doc, `"workflowName":"Order",`, "", 1))); err == nil ||
		!strings.Contains(err.Error(), "names the workflow") {
		t.Fatalf("got %v", err)
	}
}

func TestParseHistoryFillsABareArrayFromItsStart(t *testing.T) {
	done, _, _ := histories(t)
	b, err := json.Marshal(done.Events)
	if err != nil {
		t.Fatal(err)
	}
	h, err := perduretest.ParseHistory(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.Schema != api.SchemaHistory || h.InstanceID != "order-1" || h.RunID != done.RunID || h.WorkflowName != "Order" || len(h.Events) != len(done.Events) {
		t.Fatalf("parsed %+v", h)
	}
}

func TestExportRunsAndRecordHistories(t *testing.T) {
	rec := recorded(t)
	ctx := context.Background()
	runs, err := perduretest.ExportRuns(ctx, rec.c, "loop-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 3 || runs[0].Status != perdure.StatusContinuedAsNew || runs[2].Status != perdure.StatusCompleted {
		t.Fatalf("%d runs: %+v", len(runs), runs)
	}
	if _, err := perduretest.ExportRuns(ctx, rec.c, "nope"); !errors.Is(err, perdure.ErrNotFound) {
		t.Fatalf("got %v", err)
	}
	dir := filepath.Join(t.TempDir(), "testdata")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Files of an earlier recording of "loop" are replaced; others stay.
	writeFile(t, dir, "loop.history.json", marshal(t, rec.done))
	writeFile(t, dir, "loop-run4.history.json", marshal(t, rec.done))
	writeFile(t, dir, "loop-runner.history.json", marshal(t, rec.done))
	perduretest.RecordHistories(t, rec.c, "loop-1", dir, "loop")
	perduretest.RecordHistories(t, rec.c, "order-1", dir, "order")
	var names []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := "loop-run1.history.json loop-run2.history.json loop-run3.history.json loop-runner.history.json order.history.json"; strings.Join(names, " ") != want {
		t.Fatalf("files %q, want %s", names, want)
	}
	r := newReplayer(t, Order)
	if err := perduretest.RegisterWorkflow(r, Loop); err != nil {
		t.Fatal(err)
	}
	perduretest.ReplayDir(t, r, dir)
	// The files are what the CLI prints.
	b, err := os.ReadFile(filepath.Join(dir, "order.history.json"))
	if err != nil {
		t.Fatal(err)
	}
	if want := marshal(t, rec.done); !bytes.Equal(b, want) || !bytes.HasPrefix(b, []byte("{\n  \"schema\": \"perdure.history/v1\",\n")) {
		t.Fatalf("file:\n%s", b)
	}
}

// TestReplayDirReports runs helper tests in a child process and checks
// what they print.
func TestReplayDirReports(t *testing.T) {
	if os.Getenv("PERDURETEST_HELPER_DIR") != "" {
		t.Skip("helper process")
	}
	done, _, _ := histories(t)
	dir := t.TempDir()
	writeFile(t, dir, "a-good.history.json", marshal(t, done))
	writeFile(t, dir, "b-bad.history.json", []byte(`{"schema":"perdure.instance/v1"}`))
	writeFile(t, dir, "notes.json", []byte(`not a history`))
	if err := os.Mkdir(filepath.Join(dir, "c-dir.history.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := runHelper(t, "TestHelperReplayDir", dir, "Order")
	for _, want := range []string{"--- PASS: TestHelperReplayDir/a-good", "--- FAIL: TestHelperReplayDir/b-bad",
		filepath.Join(dir, "b-bad.history.json") + `: invalid history: the document's schema is "perdure.instance/v1"`} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "notes") || strings.Contains(out, "c-dir") {
		t.Fatalf("replayed what is not a history file:\n%s", out)
	}
	out = runHelper(t, "TestHelperReplayDir", dir, "OrderWithoutTimer")
	for _, want := range []string{"--- FAIL: TestHelperReplayDir/a-good", "replay of " + filepath.Join(dir, "a-good.history.json"),
		"non-deterministic workflow code at step 3", "history recorded: timer of 1ms", `code asked for:   child workflow "Ship"`} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
	empty := t.TempDir()
	out = runHelper(t, "TestHelperReplayDir", empty, "Order")
	if !strings.Contains(out, empty+" holds no *.history.json file: export histories with `perdure workflow history ID --output json > ") {
		t.Fatalf("output:\n%s", out)
	}
}

func runHelper(t *testing.T, test, dir, order string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v")
	cmd.Env = append(os.Environ(), "PERDURETEST_HELPER_DIR="+dir, "PERDURETEST_HELPER_ORDER="+order)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err == nil {
		t.Fatalf("the helper passed:\n%s", out.String())
	}
	return out.String()
}

func TestHelperReplayDir(t *testing.T) {
	dir := os.Getenv("PERDURETEST_HELPER_DIR")
	if dir == "" {
		t.Skip("run by TestReplayDirReports")
	}
	order := Order
	if os.Getenv("PERDURETEST_HELPER_ORDER") == "OrderWithoutTimer" {
		order = OrderWithoutTimer
	}
	perduretest.ReplayDir(t, newReplayer(t, order), dir)
}
