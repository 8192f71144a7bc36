package perdure_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/activity"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

func SleepWorkflow(ctx workflow.Context, d time.Duration) (time.Duration, error) {
	start := workflow.Now(ctx)
	if err := workflow.Sleep(ctx, d); err != nil {
		return 0, err
	}
	timer := workflow.NewTimer(ctx, d)
	if _, err := timer.Get(ctx); err != nil {
		return 0, err
	}
	return workflow.Now(ctx).Sub(start), nil
}

func TestDurableTimers(t *testing.T) {
	eachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, func(w *worker.Worker) { mustReg(worker.RegisterWorkflow(w, SleepWorkflow)) })
		began := time.Now()
		id, err := e.c.StartWorkflow(e.ctx, SleepWorkflow, 40*time.Millisecond, perdure.StartOptions{})
		must(t, err)
		elapsed, err := perdure.GetResult[time.Duration](e.ctx, e.c, id)
		must(t, err)
		if elapsed < 80*time.Millisecond || time.Since(began) < 80*time.Millisecond {
			t.Fatalf("two 40ms timers took %v of workflow time, %v of wall time", elapsed, time.Since(began))
		}
	})
}

func TestTimerSurvivesRestart(t *testing.T) {
	reg := func(w *worker.Worker) { mustReg(worker.RegisterWorkflow(w, SleepWorkflow)) }
	e := newEnv(t, "sqlite", reg)
	id, err := e.c.StartWorkflow(e.ctx, SleepWorkflow, 150*time.Millisecond, perdure.StartOptions{})
	must(t, err)
	_, err = e.c.WaitForStart(e.ctx, id)
	must(t, err)
	e.restart(reg)
	inst := e.waitDone(id)
	if inst.Status != perdure.StatusCompleted {
		t.Fatalf("status %s", inst.Status)
	}
}

type approval struct{ Approver string }

// EventWorkflow waits for three "item" events and then an "approval" with
// a timeout.
func EventWorkflow(ctx workflow.Context, timeout time.Duration) (string, error) {
	var items []string
	for range 3 {
		v, err := workflow.WaitEvent[string](ctx, "item").Get(ctx)
		if err != nil {
			return "", err
		}
		items = append(items, v)
	}
	a, err := workflow.WaitEventWithTimeout[approval](ctx, "Approval", timeout).Get(ctx)
	if errors.Is(err, workflow.ErrEventTimeout) {
		return strings.Join(items, ",") + " cancelled", nil
	}
	if err != nil {
		return "", err
	}
	return strings.Join(items, ",") + " approved by " + a.Approver, nil
}

func TestEventsBufferedInOrder(t *testing.T) {
	eachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, func(w *worker.Worker) { mustReg(worker.RegisterWorkflow(w, EventWorkflow)) })
		id, err := e.c.StartWorkflow(e.ctx, EventWorkflow, time.Minute, perdure.StartOptions{})
		must(t, err)
		// Raised before the workflow even ran: buffered, delivered in order.
		for _, v := range []string{"a", "b", "c"} {
			must(t, e.c.RaiseEvent(e.ctx, id, "item", v))
		}
		must(t, e.c.RaiseEvent(e.ctx, id, "approval", approval{"Jane Doe"}))
		got, err := perdure.GetResult[string](e.ctx, e.c, id)
		must(t, err)
		if got != "a,b,c approved by Jane Doe" {
			t.Fatalf("got %q", got)
		}
	})
}

func TestEventWaitTimesOut(t *testing.T) {
	e := newEnv(t, "memory", func(w *worker.Worker) { mustReg(worker.RegisterWorkflow(w, EventWorkflow)) })
	id, err := e.c.StartWorkflow(e.ctx, EventWorkflow, 30*time.Millisecond, perdure.StartOptions{})
	must(t, err)
	for _, v := range []string{"x", "y", "z"} {
		must(t, e.c.RaiseEvent(e.ctx, id, "item", v))
	}
	got, err := perdure.GetResult[string](e.ctx, e.c, id)
	must(t, err)
	if got != "x,y,z cancelled" {
		t.Fatalf("got %q", got)
	}
	if err := e.c.RaiseEvent(e.ctx, id, "approval", nil); !errors.Is(err, perdure.ErrNotRunning) {
		t.Fatalf("event to a finished instance: %v", err)
	}
	if err := e.c.RaiseEvent(e.ctx, "missing", "approval", nil); !errors.Is(err, perdure.ErrNotFound) {
		t.Fatalf("event to a missing instance: %v", err)
	}
}

// Fan-out with bounded parallelism.
var (
	fanMu      sync.Mutex
	fanRunning = map[string]int{}
	fanMax     = map[string]int{}
)

type fanItem struct {
	Group string
	N     int
}

func fanWork(_ context.Context, in fanItem) (int, error) {
	fanMu.Lock()
	fanRunning[in.Group]++
	fanMax[in.Group] = max(fanMax[in.Group], fanRunning[in.Group])
	fanMu.Unlock()
	time.Sleep(5 * time.Millisecond)
	fanMu.Lock()
	fanRunning[in.Group]--
	fanMu.Unlock()
	return in.N * 2, nil
}

type fanIn struct {
	Group       string
	Items       int
	MaxParallel int
}

func FanWorkflow(ctx workflow.Context, in fanIn) (int, error) {
	items := make([]fanItem, in.Items)
	for i := range items {
		items[i] = fanItem{in.Group, i + 1}
	}
	res, err := workflow.FanOut(ctx, items, in.MaxParallel, func(ctx workflow.Context, it fanItem) (int, error) {
		return workflow.ExecuteActivity(ctx, fanWork, it).Get(ctx)
	})
	if err != nil {
		return 0, err
	}
	sum := 0
	for _, r := range res {
		sum += r
	}
	return sum, nil
}

// FutureFanWorkflow schedules everything, then waits for all futures.
func FutureFanWorkflow(ctx workflow.Context, in fanIn) (int, error) {
	var fs []workflow.Future[int]
	for i := range in.Items {
		fs = append(fs, workflow.ExecuteActivity(ctx, fanWork, fanItem{in.Group, i + 1}))
	}
	res, err := workflow.All(ctx, fs)
	sum := 0
	for _, r := range res {
		sum += r
	}
	return sum, err
}

func TestFanOutFanIn(t *testing.T) {
	eachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, func(w *worker.Worker) {
			mustReg(worker.RegisterWorkflow(w, FanWorkflow))
			mustReg(worker.RegisterWorkflow(w, FutureFanWorkflow))
			mustReg(worker.RegisterActivity(w, fanWork))
		})
		group := t.Name()
		id, err := e.c.StartWorkflow(e.ctx, FanWorkflow, fanIn{group, 20, 3}, perdure.StartOptions{})
		must(t, err)
		got, err := perdure.GetResult[int](e.ctx, e.c, id)
		must(t, err)
		if got != 20*21 {
			t.Fatalf("sum %d, want %d", got, 20*21)
		}
		fanMu.Lock()
		peak := fanMax[group]
		fanMu.Unlock()
		if peak > 3 || peak < 2 {
			t.Fatalf("peak parallelism %d, want 2..3", peak)
		}
		id, err = e.c.StartWorkflow(e.ctx, FutureFanWorkflow, fanIn{group + "/all", 30, 0}, perdure.StartOptions{})
		must(t, err)
		got, err = perdure.GetResult[int](e.ctx, e.c, id)
		must(t, err)
		if got != 30*31 {
			t.Fatalf("sum %d", got)
		}
	})
}

// SelectWorkflow races an event against a timer, then uses coroutines.
func SelectWorkflow(ctx workflow.Context, _ struct{}) (string, error) {
	ev := workflow.WaitEvent[string](ctx, "go")
	timer := workflow.NewTimer(ctx, time.Hour)
	var out []string
	sel := workflow.NewSelector(ctx)
	sel.AddFuture(ev, func() { v, _ := ev.Get(ctx); out = append(out, "event:"+v) })
	sel.AddFuture(timer, func() { out = append(out, "timer") })
	sel.Select(ctx)

	short := workflow.NewTimer(ctx, 10*time.Millisecond)
	long := workflow.NewTimer(ctx, time.Hour)
	out = append(out, fmt.Sprint("anyof:", workflow.AnyOf(ctx, long, short)))

	ch := workflow.NewSettable[string](ctx)
	workflow.Go(ctx, func(ctx workflow.Context) {
		_ = workflow.Sleep(ctx, 5*time.Millisecond)
		ch.Set("from coroutine", nil)
	})
	v, err := ch.Get(ctx)
	if err != nil {
		return "", err
	}
	out = append(out, v)
	return strings.Join(out, "|"), nil
}

func TestSelectorAnyOfAndCoroutines(t *testing.T) {
	eachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, func(w *worker.Worker) { mustReg(worker.RegisterWorkflow(w, SelectWorkflow)) })
		id, err := e.c.StartWorkflow(e.ctx, SelectWorkflow, struct{}{}, perdure.StartOptions{})
		must(t, err)
		must(t, e.c.RaiseEvent(e.ctx, id, "go", "now"))
		got, err := perdure.GetResult[string](e.ctx, e.c, id)
		must(t, err)
		if got != "event:now|anyof:1|from coroutine" {
			t.Fatalf("got %q", got)
		}
	})
}

func ChildWorkflow(ctx workflow.Context, n int) (int, error) {
	if n < 0 {
		return 0, workflow.NewError("Negative", "child got %d", n)
	}
	r, err := workflow.ExecuteActivity(ctx, chainStep1, n).Get(ctx)
	return r * 10, err
}

func ParentWorkflow(ctx workflow.Context, ns []int) (string, error) {
	var fs []workflow.Future[int]
	for _, n := range ns {
		fs = append(fs, workflow.ExecuteChildWorkflow(ctx, ChildWorkflow, n))
	}
	var parts []string
	for _, f := range fs {
		v, err := f.Get(ctx)
		var ce *workflow.ChildWorkflowError
		if errors.As(err, &ce) {
			parts = append(parts, "failed:"+ce.Type)
			continue
		}
		if err != nil {
			return "", err
		}
		parts = append(parts, fmt.Sprint(v))
	}
	return strings.Join(parts, ","), nil
}

func registerFamily(w *worker.Worker) {
	mustReg(worker.RegisterWorkflow(w, ParentWorkflow))
	mustReg(worker.RegisterWorkflow(w, ChildWorkflow))
	mustReg(worker.RegisterActivity(w, chainStep1))
}

func TestChildWorkflows(t *testing.T) {
	eachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, registerFamily)
		id, err := e.c.StartWorkflow(e.ctx, ParentWorkflow, []int{1, -1, 2}, perdure.StartOptions{InstanceID: "parent-" + kind})
		must(t, err)
		got, err := perdure.GetResult[string](e.ctx, e.c, id)
		must(t, err)
		if got != "20,failed:Negative,30" {
			t.Fatalf("got %q", got)
		}
		child, err := e.c.GetInstance(e.ctx, id+":0001")
		must(t, err)
		if child.ParentInstanceID != id || child.Status != perdure.StatusCompleted {
			t.Fatalf("child %+v", child)
		}
	})
}

type monitorState struct {
	Checks int
	Keys   []string
}

func monitorCheck(ctx context.Context, _ int) (string, error) {
	return activityKey(ctx), nil
}

func MonitorWorkflow(ctx workflow.Context, st monitorState) (monitorState, error) {
	key, err := workflow.ExecuteActivity(ctx, monitorCheck, st.Checks).Get(ctx)
	if err != nil {
		return st, err
	}
	st.Keys = append(st.Keys, key)
	st.Checks++
	must := workflow.SetCustomStatus(ctx, fmt.Sprintf("check %d", st.Checks))
	if must != nil {
		return st, must
	}
	if st.Checks < 4 {
		if err := workflow.Sleep(ctx, 5*time.Millisecond); err != nil {
			return st, err
		}
		return st, workflow.ContinueAsNew(ctx, st)
	}
	return st, nil
}

func TestContinueAsNew(t *testing.T) {
	eachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, func(w *worker.Worker) {
			mustReg(worker.RegisterWorkflow(w, MonitorWorkflow))
			mustReg(worker.RegisterActivity(w, monitorCheck))
		})
		id, err := e.c.StartWorkflow(e.ctx, MonitorWorkflow, monitorState{}, perdure.StartOptions{InstanceID: "monitor"})
		must(t, err)
		got, err := perdure.GetResult[monitorState](e.ctx, e.c, id)
		must(t, err)
		if got.Checks != 4 {
			t.Fatalf("checks %d", got.Checks)
		}
		seen := map[string]bool{}
		for _, k := range got.Keys {
			if seen[k] {
				t.Fatalf("idempotency key %q repeated across continue-as-new: %v", k, got.Keys)
			}
			seen[k] = true
		}
		inst, err := e.c.GetInstance(e.ctx, id)
		must(t, err)
		var cs string
		must(t, inst.DecodeCustomStatus(&cs))
		if cs != "check 4" || inst.PreviousRunID == "" {
			t.Fatalf("custom status %q, previous run %q", cs, inst.PreviousRunID)
		}
		page, err := e.c.ListInstances(e.ctx, perdure.ListFilter{InstanceID: id, AllRuns: true})
		must(t, err)
		if len(page.Instances) != 4 {
			t.Fatalf("%d runs, want 4", len(page.Instances))
		}
		for _, r := range page.Instances[1:] {
			if r.Status != perdure.StatusContinuedAsNew {
				t.Fatalf("earlier run status %s", r.Status)
			}
		}
	})
}

func activityKey(ctx context.Context) string {
	return activity.GetInfo(ctx).IdempotencyKey
}

func recordValues(_ context.Context, s string) (string, error) { return s, nil }

var sideEffectRuns atomic.Int64

// DeterminismWorkflow uses every deterministic helper and waits for an
// event, so that a restart replays it.
func DeterminismWorkflow(ctx workflow.Context, _ struct{}) (string, error) {
	id := workflow.NewUUID(ctx)
	n := workflow.Random(ctx).IntN(1 << 30)
	now := workflow.Now(ctx)
	se, err := workflow.SideEffect(ctx, func() int64 { return sideEffectRuns.Add(1) })
	if err != nil {
		return "", err
	}
	step, err := workflow.Run(ctx, "payment", func(context.Context) (string, error) {
		sideEffectRuns.Add(1)
		return "pay-ref-1", nil
	})
	if err != nil {
		return "", err
	}
	values := fmt.Sprintf("%s|%d|%d|%d|%s", id, n, now.UnixNano(), se, step)
	// Recorded in history by the first execution, compared after replay.
	if _, err := workflow.ExecuteActivity(ctx, recordValues, values).Get(ctx); err != nil {
		return "", err
	}
	if _, err := workflow.WaitEvent[struct{}](ctx, "continue").Get(ctx); err != nil {
		return "", err
	}
	return values, nil
}

func TestDeterministicHelpersSurviveReplay(t *testing.T) {
	reg := func(w *worker.Worker) {
		mustReg(worker.RegisterWorkflow(w, DeterminismWorkflow))
		mustReg(worker.RegisterActivity(w, recordValues))
	}
	e := newEnv(t, "sqlite", reg)
	id, err := e.c.StartWorkflow(e.ctx, DeterminismWorkflow, struct{}{}, perdure.StartOptions{})
	must(t, err)
	eventually(t, "the workflow waits", func() bool {
		h, _ := e.c.History(e.ctx, id, "")
		return len(h) >= 5 // started, 2 side effects, activity scheduled and completed
	})
	before := sideEffectRuns.Load()
	e.restart(reg) // the new process replays the history
	must(t, e.c.RaiseEvent(e.ctx, id, "continue", nil))
	got, err := perdure.GetResult[string](e.ctx, e.c, id)
	must(t, err)
	if sideEffectRuns.Load() != before {
		t.Fatalf("side effects ran again on replay (%d -> %d)", before, sideEffectRuns.Load())
	}
	// A second, independent replay must compute the same values.
	hist, err := e.c.History(e.ctx, id, "")
	must(t, err)
	var effects []string
	var recorded string
	for _, ev := range hist {
		if ev.Type == "SideEffect" {
			effects = append(effects, ev.Name+"="+string(ev.Result))
		}
		if ev.Type == "TaskScheduled" {
			recorded = string(ev.Input)
		}
	}
	if len(effects) != 2 || !strings.HasSuffix(got, "|pay-ref-1") || recorded != `"`+got+`"` {
		t.Fatalf("replayed values %q, first execution %s, side effects %v", got, recorded, effects)
	}
}

func WaitsForGo(ctx workflow.Context, _ int) (int, error) {
	return workflow.WaitEvent[int](ctx, "go").Get(ctx)
}

// An event raised on an instance whose start is scheduled later waits for
// the start: history begins with ExecutionStarted and the instance stays
// PENDING until then.
func TestEventBeforeDelayedStart(t *testing.T) {
	eachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, func(w *worker.Worker) { mustReg(worker.RegisterWorkflow(w, WaitsForGo)) })
		startAt := time.Now().Add(500 * time.Millisecond)
		id, err := e.c.StartWorkflow(e.ctx, WaitsForGo, 0, perdure.StartOptions{InstanceID: "delayed", StartAt: startAt})
		must(t, err)
		must(t, e.c.RaiseEvent(e.ctx, id, "go", 7))
		time.Sleep(100 * time.Millisecond)
		inst, err := e.c.GetInstance(e.ctx, id)
		must(t, err)
		if inst.Status != perdure.StatusPending {
			t.Fatalf("status %s before the start time, want PENDING", inst.Status)
		}
		got, err := perdure.GetResult[int](e.ctx, e.c, id)
		must(t, err)
		hist, err := e.c.History(e.ctx, id, "")
		must(t, err)
		if got != 7 || hist[0].Type != "ExecutionStarted" || hist[0].Time.Before(startAt.Add(-time.Millisecond)) {
			t.Fatalf("result %d, first event %s at %v (start at %v)", got, hist[0].Type, hist[0].Time, startAt)
		}
	})
}
