package perdure_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// WaitingWorkflow waits for "finish" and returns its payload.
func WaitingWorkflow(ctx workflow.Context, in string) (string, error) {
	v, err := workflow.WaitEvent[string](ctx, "finish").Get(ctx)
	return in + ":" + v, err
}

// ParentOfWaiters starts two waiting children and waits for them.
func ParentOfWaiters(ctx workflow.Context, _ string) (string, error) {
	a := workflow.ExecuteChildWorkflow(ctx, WaitingWorkflow, "a")
	b := workflow.ExecuteChildWorkflow(ctx, WaitingWorkflow, "b")
	workflow.AllOf(ctx, a, b)
	return "both", nil
}

func registerWaiting(w *worker.Worker) {
	mustReg(worker.RegisterWorkflow(w, WaitingWorkflow))
	mustReg(worker.RegisterWorkflow(w, ParentOfWaiters))
}

func TestStartIDSemantics(t *testing.T) {
	eachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, registerWaiting)
		opts := perdure.StartOptions{InstanceID: "order-1"}
		id, err := e.c.StartWorkflow(e.ctx, WaitingWorkflow, "in", opts)
		must(t, err)
		first, err := e.c.GetInstance(e.ctx, id)
		must(t, err)
		// Same name and input while running: the same instance (idempotent retry).
		again, err := e.c.StartWorkflow(e.ctx, WaitingWorkflow, "in", opts)
		must(t, err)
		cur, err := e.c.GetInstance(e.ctx, again)
		must(t, err)
		if again != id || cur.RunID != first.RunID {
			t.Fatalf("idempotent start made a new run")
		}
		// Different input while running: conflict.
		if _, err := e.c.StartWorkflow(e.ctx, WaitingWorkflow, "other", opts); !errors.Is(err, perdure.ErrConflict) {
			t.Fatalf("conflicting start: %v", err)
		}
		must(t, e.c.RaiseEvent(e.ctx, id, "finish", "x"))
		e.waitDone(id)
		// Finished: a new run replaces it; the old one stays readable.
		_, err = e.c.StartWorkflow(e.ctx, WaitingWorkflow, "second", opts)
		must(t, err)
		cur, err = e.c.GetInstance(e.ctx, id)
		must(t, err)
		if cur.RunID == first.RunID || cur.Status.Finished() {
			t.Fatalf("no new run: %+v", cur)
		}
		old, err := e.c.GetRun(e.ctx, id, first.RunID)
		must(t, err)
		if old.Status != perdure.StatusCompleted || string(old.Output) != `"in:x"` || old.Current {
			t.Fatalf("old run %+v", old)
		}
	})
}

func TestTerminateSuspendResume(t *testing.T) {
	eachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, registerWaiting)
		id, err := e.c.StartWorkflow(e.ctx, ParentOfWaiters, "", perdure.StartOptions{InstanceID: "family"})
		must(t, err)
		eventually(t, "children running", func() bool {
			c, err := e.c.GetInstance(e.ctx, "family:0002")
			return err == nil && c.Status == perdure.StatusRunning
		})
		must(t, e.c.Terminate(e.ctx, id, "operator said so"))
		inst := e.waitDone(id)
		if inst.Status != perdure.StatusTerminated || inst.Failure == nil || inst.Failure.Message != "terminated: operator said so" {
			t.Fatalf("parent %+v", inst)
		}
		for _, child := range []string{"family:0001", "family:0002"} {
			c := e.waitDone(child)
			if c.Status != perdure.StatusTerminated {
				t.Fatalf("child %s is %s", child, c.Status)
			}
		}
		if err := e.c.Terminate(e.ctx, id, "again"); !errors.Is(err, perdure.ErrNotRunning) {
			t.Fatalf("terminate finished: %v", err)
		}

		// Suspend: events wait until resume.
		id, err = e.c.StartWorkflow(e.ctx, WaitingWorkflow, "s", perdure.StartOptions{})
		must(t, err)
		_, err = e.c.WaitForStart(e.ctx, id)
		must(t, err)
		must(t, e.c.Suspend(e.ctx, id, "maintenance"))
		eventually(t, "suspended", func() bool {
			i, _ := e.c.GetInstance(e.ctx, id)
			return i.Status == perdure.StatusSuspended
		})
		must(t, e.c.RaiseEvent(e.ctx, id, "finish", "later"))
		time.Sleep(50 * time.Millisecond)
		if i, _ := e.c.GetInstance(e.ctx, id); i.Status != perdure.StatusSuspended {
			t.Fatalf("a suspended instance ran: %s", i.Status)
		}
		must(t, e.c.Resume(e.ctx, id, "done"))
		got, err := perdure.GetResult[string](e.ctx, e.c, id)
		must(t, err)
		if got != "s:later" {
			t.Fatalf("got %q", got)
		}
	})
}

func TestListPurgeAndHistory(t *testing.T) {
	eachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, registerWaiting)
		var ids []string
		for i := range 7 {
			id, err := e.c.StartWorkflow(e.ctx, WaitingWorkflow, fmt.Sprint(i), perdure.StartOptions{InstanceID: fmt.Sprintf("list-%d", i)})
			must(t, err)
			ids = append(ids, id)
		}
		for _, id := range ids[:4] {
			must(t, e.c.RaiseEvent(e.ctx, id, "finish", "ok"))
			e.waitDone(id)
		}
		// Pagination: 3 per page, newest first, covering all 7 once.
		seen := map[string]bool{}
		token := ""
		pages := 0
		for {
			page, err := e.c.ListInstances(e.ctx, perdure.ListFilter{Name: "WaitingWorkflow", PageSize: 3, PageToken: token})
			must(t, err)
			pages++
			for _, inst := range page.Instances {
				if seen[inst.InstanceID] {
					t.Fatalf("%s listed twice", inst.InstanceID)
				}
				seen[inst.InstanceID] = true
			}
			if token = page.NextPageToken; token == "" {
				break
			}
		}
		if len(seen) != 7 || pages != 3 {
			t.Fatalf("listed %d instances in %d pages", len(seen), pages)
		}
		done, err := e.c.ListInstances(e.ctx, perdure.ListFilter{Statuses: []perdure.Status{perdure.StatusCompleted}})
		must(t, err)
		if len(done.Instances) != 4 {
			t.Fatalf("%d completed", len(done.Instances))
		}
		if err := e.c.Purge(e.ctx, ids[5]); !errors.Is(err, perdure.ErrStillRunning) {
			t.Fatalf("purge running: %v", err)
		}
		must(t, e.c.Purge(e.ctx, ids[0]))
		if _, err := e.c.GetInstance(e.ctx, ids[0]); !errors.Is(err, perdure.ErrNotFound) {
			t.Fatalf("purged instance still readable: %v", err)
		}
		if _, err := e.c.History(e.ctx, ids[0], ""); !errors.Is(err, perdure.ErrNotFound) {
			t.Fatalf("purged history still readable: %v", err)
		}
		n, err := e.c.PurgeWhere(e.ctx, perdure.PurgeFilter{Statuses: []perdure.Status{perdure.StatusCompleted}})
		must(t, err)
		if n != 3 {
			t.Fatalf("purged %d, want 3", n)
		}
		if _, err := e.c.PurgeWhere(e.ctx, perdure.PurgeFilter{Statuses: []perdure.Status{perdure.StatusRunning}}); err == nil {
			t.Fatal("purging RUNNING instances must be refused")
		}
		hist, err := e.c.History(e.ctx, ids[6], "")
		must(t, err)
		if len(hist) != 1 || hist[0].Type != "ExecutionStarted" || string(hist[0].Input) != `"6"` {
			t.Fatalf("history %+v", hist)
		}
	})
}

func TestCountInstances(t *testing.T) {
	e := newEnv(t, "sqlite", registerWaiting)
	for i := range 3 {
		_, err := e.c.StartWorkflow(e.ctx, WaitingWorkflow, fmt.Sprint(i), perdure.StartOptions{InstanceID: fmt.Sprintf("count-%d", i)})
		must(t, err)
	}
	must(t, e.c.RaiseEvent(e.ctx, "count-0", "finish", "x"))
	e.waitDone("count-0")
	eventually(t, "two running", func() bool {
		m, err := e.c.CountInstances(e.ctx, perdure.ListFilter{Name: "WaitingWorkflow"})
		return err == nil && m[perdure.StatusRunning] == 2 && m[perdure.StatusCompleted] == 1
	})
	m, err := e.c.CountInstances(e.ctx, perdure.ListFilter{Name: "Other"})
	must(t, err)
	if len(m) != 0 {
		t.Fatalf("counts for an unknown name: %v", m)
	}
}

var releaseSlow = make(chan struct{})

func slowStep(ctx context.Context, _ int) (int, error) {
	select {
	case <-releaseSlow:
	case <-ctx.Done():
	}
	return 1, nil
}

// WaitsForManyThings waits on an activity, a timer and an event at once.
func WaitsForManyThings(ctx workflow.Context, _ int) (string, error) {
	a := workflow.ExecuteActivity(ctx, slowStep, 1)
	tm := workflow.NewTimer(ctx, time.Hour)
	ev := workflow.WaitEventWithTimeout[string](ctx, "approval_received", 24*time.Hour)
	workflow.AnyOf(ctx, a, tm, ev)
	return "done", nil
}

func TestInstanceShowsWhatItWaitsOn(t *testing.T) {
	eachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, func(w *worker.Worker) {
			mustReg(worker.RegisterWorkflow(w, WaitsForManyThings))
			mustReg(worker.RegisterActivity(w, slowStep))
		})
		id, err := e.c.StartWorkflow(e.ctx, WaitsForManyThings, 0, perdure.StartOptions{})
		must(t, err)
		var inst *perdure.Instance
		eventually(t, "the waits", func() bool {
			inst, err = e.c.GetInstance(e.ctx, id)
			return err == nil && len(inst.Waiting) > 0
		})
		var got []string
		for _, w := range inst.Waiting {
			got = append(got, fmt.Sprintf("%s:%d:%s:%s:%v", w.Kind, w.Step, w.Name, w.Purpose, !w.FireAt.IsZero()))
		}
		want := "activity:1:slowStep::false timer:2:::true timer:3::event:approval_received:true event:0:approval_received::false"
		if strings.Join(got, " ") != want {
			t.Fatalf("waiting\n got %s\nwant %s", strings.Join(got, " "), want)
		}
		must(t, e.c.RaiseEvent(e.ctx, id, "approval_received", "yes"))
		done := e.waitDone(id)
		if done.Waiting != nil {
			t.Fatalf("a finished instance still waits on %v", done.Waiting)
		}
	})
}
