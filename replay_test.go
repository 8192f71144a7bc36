package perdure_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

func stepA(_ context.Context, s string) (string, error) { return "A" + s, nil }
func stepB(_ context.Context, s string) (string, error) { return "B" + s, nil }

// VersionedV1 is the code deployed first.
func VersionedV1(ctx workflow.Context, _ string) (string, error) {
	a, err := workflow.ExecuteActivity(ctx, stepA, "1").Get(ctx)
	if err != nil {
		return "", err
	}
	if _, err := workflow.WaitEvent[string](ctx, "next").Get(ctx); err != nil {
		return "", err
	}
	return a, nil
}

// VersionedV2 replaces stepA by stepB, guarded by GetVersion.
func VersionedV2(ctx workflow.Context, _ string) (string, error) {
	var res string
	var err error
	if v := workflow.GetVersion(ctx, "use-step-b", workflow.DefaultVersion, 1); v == workflow.DefaultVersion {
		res, err = workflow.ExecuteActivity(ctx, stepA, "1").Get(ctx)
	} else {
		res, err = workflow.ExecuteActivity(ctx, stepB, "2").Get(ctx)
	}
	if err != nil {
		return "", err
	}
	if _, err := workflow.WaitEvent[string](ctx, "next").Get(ctx); err != nil {
		return "", err
	}
	return res, nil
}

// UnguardedV2 changes the step without GetVersion: not deterministic.
func UnguardedV2(ctx workflow.Context, _ string) (string, error) {
	res, err := workflow.ExecuteActivity(ctx, stepB, "2").Get(ctx)
	if err != nil {
		return "", err
	}
	if _, err := workflow.WaitEvent[string](ctx, "next").Get(ctx); err != nil {
		return "", err
	}
	return res, nil
}

func registerVersioned(fn func(workflow.Context, string) (string, error)) func(w *worker.Worker) {
	return func(w *worker.Worker) {
		mustReg(worker.RegisterWorkflowAs(w, "Versioned", fn))
		mustReg(worker.RegisterActivity(w, stepA))
		mustReg(worker.RegisterActivity(w, stepB))
	}
}

func waitHistory(t *testing.T, e *env, id string, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d history events", n), func() bool {
		h, _ := e.c.History(e.ctx, id, "")
		return len(h) >= n
	})
}

func TestGetVersion(t *testing.T) {
	for _, kind := range []string{"sqlite", "nocache"} {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, registerVersioned(VersionedV1))
			old, err := e.c.StartWorkflow(e.ctx, "Versioned", "", perdure.StartOptions{})
			must(t, err)
			waitHistory(t, e, old, 3)
			e.restart(registerVersioned(VersionedV2))
			fresh, err := e.c.StartWorkflow(e.ctx, "Versioned", "", perdure.StartOptions{})
			must(t, err)
			waitHistory(t, e, fresh, 4)
			for _, id := range []string{old, fresh} {
				must(t, e.c.RaiseEvent(e.ctx, id, "next", "go"))
			}
			gotOld, err := perdure.GetResult[string](e.ctx, e.c, old)
			must(t, err)
			gotNew, err := perdure.GetResult[string](e.ctx, e.c, fresh)
			must(t, err)
			if gotOld != "A1" || gotNew != "B2" {
				t.Fatalf("old run %q (want A1), new run %q (want B2)", gotOld, gotNew)
			}
		})
	}
}

func TestNondeterminismIsReportedAndRecovers(t *testing.T) {
	e := newEnv(t, "sqlite", registerVersioned(VersionedV1))
	id, err := e.c.StartWorkflow(e.ctx, "Versioned", "", perdure.StartOptions{})
	must(t, err)
	waitHistory(t, e, id, 3)
	e.restart(registerVersioned(UnguardedV2))
	must(t, e.c.RaiseEvent(e.ctx, id, "next", "go"))
	var inst *perdure.Instance
	eventually(t, "the task error", func() bool {
		inst, err = e.c.GetInstance(e.ctx, id)
		return err == nil && inst.TaskError != ""
	})
	msg := inst.TaskError
	for _, want := range []string{"non-deterministic workflow code at step 1", `history recorded: activity "stepA"`,
		`code asked for:   activity "stepB"`, "replay_test.go:"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("task error lacks %q:\n%s", want, msg)
		}
	}
	if inst.Status != perdure.StatusRunning {
		t.Fatalf("status %s: a non-determinism error must not fail the workflow", inst.Status)
	}
	e.restart(registerVersioned(VersionedV1)) // the fix is deployed
	got, err := perdure.GetResult[string](e.ctx, e.c, id)
	must(t, err)
	if got != "A1" {
		t.Fatalf("got %q after the fix", got)
	}
	inst, err = e.c.GetInstance(e.ctx, id)
	must(t, err)
	if inst.TaskError != "" {
		t.Fatalf("task error not cleared: %s", inst.TaskError)
	}
}

// Saga: compensations run in reverse order.
var (
	sagaMu  sync.Mutex
	sagaLog = map[string][]string{}
)

type booking struct {
	Trip   string
	Flight string
}

func logStep(trip, s string) {
	sagaMu.Lock()
	sagaLog[trip] = append(sagaLog[trip], s)
	sagaMu.Unlock()
}

func bookCar(_ context.Context, b booking) (string, error) {
	logStep(b.Trip, "book_car")
	return "car", nil
}
func bookHotel(_ context.Context, b booking) (string, error) {
	logStep(b.Trip, "book_hotel")
	return "hotel", nil
}
func bookFlight(_ context.Context, b booking) (string, error) {
	logStep(b.Trip, "book_flight")
	if b.Flight == "invalid" {
		return "", workflow.NewNonRetryableError("InvalidFlight", "Invalid flight booking, rolling back!")
	}
	return "flight", nil
}
func undoBookCar(_ context.Context, b booking) (string, error) {
	logStep(b.Trip, "undo_book_car")
	return "", nil
}
func undoBookHotel(_ context.Context, b booking) (string, error) {
	logStep(b.Trip, "undo_book_hotel")
	return "", nil
}
func undoBookFlight(_ context.Context, b booking) (string, error) {
	logStep(b.Trip, "undo_book_flight")
	return "", nil
}

func SagaWorkflow(ctx workflow.Context, b booking) (string, error) {
	saga := workflow.NewSaga()
	steps := []struct {
		do, undo func(context.Context, booking) (string, error)
	}{{bookCar, undoBookCar}, {bookHotel, undoBookHotel}, {bookFlight, undoBookFlight}}
	var got []string
	for _, s := range steps {
		workflow.AddCompensationActivity(saga, s.undo, b) // compensate even a step that failed half-way
		r, err := workflow.ExecuteActivity(ctx, s.do, b).Get(ctx)
		if err != nil {
			return "", saga.Compensate(ctx, err)
		}
		got = append(got, r)
	}
	return strings.Join(got, "+"), nil
}

func TestSagaCompensatesInReverseOrder(t *testing.T) {
	eachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, func(w *worker.Worker) {
			mustReg(worker.RegisterWorkflow(w, SagaWorkflow))
			for _, f := range []func(context.Context, booking) (string, error){bookCar, bookHotel, bookFlight, undoBookCar, undoBookHotel, undoBookFlight} {
				mustReg(worker.RegisterActivity(w, f))
			}
		})
		trip := t.Name()
		id, err := e.c.StartWorkflow(e.ctx, SagaWorkflow, booking{Trip: trip, Flight: "invalid"}, perdure.StartOptions{})
		must(t, err)
		inst := e.waitDone(id)
		if inst.Status != perdure.StatusFailed || !strings.Contains(inst.Failure.Message, "Invalid flight booking") {
			t.Fatalf("status %s failure %+v", inst.Status, inst.Failure)
		}
		sagaMu.Lock()
		got := strings.Join(sagaLog[trip], " ")
		sagaMu.Unlock()
		want := "book_car book_hotel book_flight undo_book_flight undo_book_hotel undo_book_car"
		if got != want {
			t.Fatalf("steps:\n got %s\nwant %s", got, want)
		}
		hist, err := e.c.History(e.ctx, id, "")
		must(t, err)
		marked := 0
		for _, ev := range hist {
			if ev.Type == "TaskScheduled" && strings.Contains(string(ev.Options), `"compensation":true`) {
				marked++
			}
		}
		if marked != 3 {
			t.Fatalf("%d compensation activities marked in history, want 3", marked)
		}
	})
}

// LoggingWorkflow logs before and after a wait; a replay must not repeat
// the first line.
func LoggingWorkflow(ctx workflow.Context, tag string) (string, error) {
	log := workflow.GetLogger(ctx)
	log.Info("before wait " + tag)
	if _, err := workflow.WaitEvent[string](ctx, "go").Get(ctx); err != nil {
		return "", err
	}
	log.Info("after wait " + tag)
	return "done", nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestReplayAwareLogger(t *testing.T) {
	var buf syncBuffer
	reg := func(w *worker.Worker) { mustReg(worker.RegisterWorkflow(w, LoggingWorkflow)) }
	e := &env{t: t, kind: "nocache"}
	e.opts = perdure.Options{CacheSize: -1, Logger: slog.New(slog.NewTextHandler(&buf, nil)), WorkflowTaskRetry: 50 * time.Millisecond}
	e.st = openStore(t, "memory", "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e.ctx = ctx
	e.start(reg)
	defer e.close()
	id, err := e.c.StartWorkflow(ctx, LoggingWorkflow, "t1", perdure.StartOptions{})
	must(t, err)
	waitHistory(t, e, id, 1)
	must(t, e.c.RaiseEvent(ctx, id, "go", "x"))
	e.waitDone(id)
	out := buf.String()
	if n := strings.Count(out, "before wait t1"); n != 1 {
		t.Fatalf("'before wait' logged %d times (replays must not log):\n%s", n, out)
	}
	if n := strings.Count(out, "after wait t1"); n != 1 {
		t.Fatalf("'after wait' logged %d times:\n%s", n, out)
	}
	if !strings.Contains(out, "instance_id="+id) {
		t.Fatalf("log lines lack the instance id:\n%s", out)
	}
}
