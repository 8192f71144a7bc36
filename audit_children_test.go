package perdure_test

import (
	"errors"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// StartsTakenChild starts a child under an id that a running instance has.
func StartsTakenChild(ctx workflow.Context, id string) (string, error) {
	_, err := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{InstanceID: id}), WaitingWorkflow, "x").Get(ctx)
	var ce *workflow.ChildWorkflowError
	if errors.As(err, &ce) {
		return ce.Type, nil
	}
	return "", err
}

// A child whose instance id is taken fails in the parent; the running
// instance with that id is left alone.
func TestChildWithTakenInstanceID(t *testing.T) {
	eachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, func(w *worker.Worker) {
			registerWaiting(w)
			mustReg(worker.RegisterWorkflow(w, StartsTakenChild))
		})
		_, err := e.c.StartWorkflow(e.ctx, WaitingWorkflow, "busy", perdure.StartOptions{InstanceID: "taken"})
		must(t, err)
		id, err := e.c.StartWorkflow(e.ctx, StartsTakenChild, "taken", perdure.StartOptions{})
		must(t, err)
		got, err := perdure.GetResult[string](e.ctx, e.c, id)
		must(t, err)
		if got != "InstanceAlreadyExists" {
			t.Fatalf("got %q", got)
		}
		// Its own first task may still be on its way: wait for it.
		other, err := e.c.WaitForStart(e.ctx, "taken")
		must(t, err)
		if other.Status != perdure.StatusRunning || other.ParentInstanceID != "" {
			t.Fatalf("the instance with the taken id was touched: %+v", other)
		}
	})
}

// EternalParent starts a child that outlives the run, then continues as new
// once: the next run's child must not collide with the first one.
func EternalParent(ctx workflow.Context, round int) (string, error) {
	child := workflow.ExecuteChildWorkflow(ctx, WaitingWorkflow, "round")
	if round == 0 {
		if err := workflow.Sleep(ctx, 10*time.Millisecond); err != nil { // let the child start
			return "", err
		}
		return "", workflow.ContinueAsNew(ctx, round+1)
	}
	_, err := child.Get(ctx)
	return "second child finished", err
}

func TestChildIDsDoNotRepeatAfterContinueAsNew(t *testing.T) {
	eachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, func(w *worker.Worker) {
			registerWaiting(w)
			mustReg(worker.RegisterWorkflow(w, EternalParent))
		})
		id, err := e.c.StartWorkflow(e.ctx, EternalParent, 0, perdure.StartOptions{InstanceID: "eternal"})
		must(t, err)
		var second *perdure.Instance
		eventually(t, "the second run's child", func() bool {
			page, err := e.c.ListInstances(e.ctx, perdure.ListFilter{InstanceID: "eternal:*"})
			if err != nil || len(page.Instances) < 2 {
				return false
			}
			for _, in := range page.Instances {
				if in.InstanceID != "eternal:0001" {
					second = in
				}
			}
			return second != nil
		})
		must(t, e.c.RaiseEvent(e.ctx, second.InstanceID, "finish", "ok"))
		got, err := perdure.GetResult[string](e.ctx, e.c, id)
		must(t, err)
		if got != "second child finished" {
			t.Fatalf("got %q", got)
		}
		// Its own first task may still be on its way (PENDING): wait for it.
		first, err := e.c.WaitForStart(e.ctx, "eternal:0001")
		must(t, err)
		if first.Status != perdure.StatusRunning {
			t.Fatalf("the first run's child is %s, want still RUNNING", first.Status)
		}
	})
}
