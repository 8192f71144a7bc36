package perdure_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/activity"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

func chainStep1(_ context.Context, n int) (int, error) { return n + 1, nil }
func chainStep2(_ context.Context, n int) (int, error) { return n * 2, nil }
func chainStep3(_ context.Context, n int) (int, error) {
	if n < 0 {
		return 0, activity.NewNonRetryableError("NegativeInput", "step3 cannot take %d", n)
	}
	return n ^ 2, nil
}

var errorHandlerCalls atomic.Int64

func chainErrorHandler(_ context.Context, msg string) (string, error) {
	errorHandlerCalls.Add(1)
	return "handled: " + msg, nil
}

func ChainWorkflow(ctx workflow.Context, n int) ([]int, error) {
	r1, err := workflow.ExecuteActivity(ctx, chainStep1, n).Get(ctx)
	if err == nil {
		var r2, r3 int
		if r2, err = workflow.ExecuteActivity(ctx, chainStep2, r1).Get(ctx); err == nil {
			if r3, err = workflow.ExecuteActivity(ctx, chainStep3, r2).Get(ctx); err == nil {
				return []int{r1, r2, r3}, nil
			}
		}
	}
	if _, herr := workflow.ExecuteActivity(ctx, chainErrorHandler, err.Error()).Get(ctx); herr != nil {
		return nil, herr
	}
	return nil, err
}

func registerChain(w *worker.Worker) {
	mustReg(worker.RegisterWorkflow(w, ChainWorkflow))
	mustReg(worker.RegisterActivity(w, chainStep1))
	mustReg(worker.RegisterActivity(w, chainStep2))
	mustReg(worker.RegisterActivity(w, chainStep3))
	mustReg(worker.RegisterActivity(w, chainErrorHandler))
}

func TestTaskChain(t *testing.T) {
	eachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, registerChain)
		id, err := e.c.StartWorkflow(e.ctx, ChainWorkflow, 1, perdure.StartOptions{})
		must(t, err)
		got, err := perdure.GetResult[[]int](e.ctx, e.c, id)
		must(t, err)
		if fmt.Sprint(got) != "[2 4 6]" {
			t.Fatalf("chain(1) = %v, want [2 4 6]", got)
		}
		inst, err := e.c.GetInstance(e.ctx, id)
		must(t, err)
		if inst.Name != "ChainWorkflow" || inst.Status != perdure.StatusCompleted || string(inst.Input) != "1" ||
			string(inst.Output) != "[2,4,6]" || inst.CreatedAt.IsZero() || inst.UpdatedAt.Before(inst.CreatedAt) {
			t.Fatalf("unexpected status %+v", inst)
		}
		hist, err := e.c.History(e.ctx, id, "")
		must(t, err)
		var types []string
		for _, ev := range hist {
			types = append(types, ev.Type)
		}
		want := "ExecutionStarted TaskScheduled TaskCompleted TaskScheduled TaskCompleted TaskScheduled TaskCompleted ExecutionCompleted"
		if strings.Join(types, " ") != want {
			t.Fatalf("history = %v\nwant %s", types, want)
		}
	})
}

func TestTaskChainFailureRunsErrorHandler(t *testing.T) {
	eachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, registerChain)
		before := errorHandlerCalls.Load()
		id, err := e.c.StartWorkflow(e.ctx, ChainWorkflow, -5, perdure.StartOptions{})
		must(t, err)
		_, err = perdure.GetResult[[]int](e.ctx, e.c, id)
		var we *perdure.WorkflowError
		if !errors.As(err, &we) || we.Status != perdure.StatusFailed {
			t.Fatalf("want a failed workflow, got %v", err)
		}
		if we.Failure.Type != "ActivityError" || we.Failure.ActivityName != "chainStep3" || we.Failure.Cause == nil ||
			we.Failure.Cause.Type != "NegativeInput" {
			t.Fatalf("failure = %+v", we.Failure)
		}
		if errorHandlerCalls.Load() <= before {
			t.Fatal("error handler did not run")
		}
	})
}

func TestRegistration(t *testing.T) {
	e := newEnv(t, "memory", nil)
	w := e.w
	must(t, worker.RegisterWorkflow(w, ChainWorkflow))
	if err := worker.RegisterWorkflow(w, ChainWorkflow); !errors.Is(err, worker.ErrDuplicate) {
		t.Fatalf("second registration: %v, want ErrDuplicate", err)
	}
	if err := worker.RegisterActivityAs(w, "ChainWorkflow", chainStep1); !errors.Is(err, worker.ErrDuplicate) {
		t.Fatalf("activity under a workflow's name: %v, want ErrDuplicate", err)
	}
	if err := worker.RegisterActivity(w, func(context.Context, int) (int, error) { return 0, nil }); err == nil ||
		!strings.Contains(err.Error(), "anonymous") {
		t.Fatalf("anonymous function: %v", err)
	}
	must(t, worker.RegisterActivityAs(w, "step_one", chainStep1))
	if got := w.ActivityNames(); fmt.Sprint(got) != "[step_one]" {
		t.Fatalf("activity names %v", got)
	}
	if got := w.WorkflowNames(); fmt.Sprint(got) != "[ChainWorkflow]" {
		t.Fatalf("workflow names %v", got)
	}
	must(t, w.Start())
	if err := worker.RegisterActivity(w, chainStep2); err == nil {
		t.Fatal("registration after Start should fail")
	}
}

// renamedActivity is registered under an explicit name and called by
// function: the call must reach the registered name.
func renamedActivity(_ context.Context, s string) (string, error) { return "renamed:" + s, nil }

func CallsRenamed(ctx workflow.Context, s string) (string, error) {
	return workflow.ExecuteActivity(ctx, renamedActivity, s).Get(ctx)
}

func TestActivityCalledByFunctionUsesRegisteredName(t *testing.T) {
	e := newEnv(t, "memory", func(w *worker.Worker) {
		must(t, worker.RegisterWorkflow(w, CallsRenamed))
		must(t, worker.RegisterActivityAs(w, "renamed_activity", renamedActivity))
	})
	id, err := e.c.StartWorkflow(e.ctx, "CallsRenamed", "x", perdure.StartOptions{})
	must(t, err)
	got, err := perdure.GetResult[string](e.ctx, e.c, id)
	must(t, err)
	if got != "renamed:x" {
		t.Fatalf("got %q", got)
	}
	hist, err := e.c.History(e.ctx, id, "")
	must(t, err)
	if hist[1].Type != "TaskScheduled" || hist[1].Name != "renamed_activity" {
		t.Fatalf("scheduled %s %q", hist[1].Type, hist[1].Name)
	}
}

func TestStartUnknownWorkflowStaysPending(t *testing.T) {
	e := newEnv(t, "memory", registerChain)
	id, err := e.c.StartWorkflow(e.ctx, "NoSuchWorkflow", 1, perdure.StartOptions{})
	must(t, err)
	time.Sleep(50 * time.Millisecond)
	inst, err := e.c.GetInstance(e.ctx, id)
	must(t, err)
	if inst.Status != perdure.StatusPending {
		t.Fatalf("status %s, want PENDING", inst.Status)
	}
}
