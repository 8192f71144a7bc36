package perdure_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/internal/history"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

type carryState struct {
	Gate string
	Got  []string
	Next bool
}

// AuditCarryWorkflow takes one event, runs an activity (during which more
// events arrive) and continues as new; the next run collects three events.
func AuditCarryWorkflow(ctx workflow.Context, st carryState) ([]string, error) {
	if !st.Next {
		v, err := workflow.WaitEvent[string](ctx, "e").Get(ctx)
		if err != nil {
			return nil, err
		}
		if _, err := workflow.ExecuteActivity(ctx, auditWaitGate, st.Gate).Get(ctx); err != nil {
			return nil, err
		}
		return nil, workflow.ContinueAsNew(ctx, carryState{Gate: st.Gate, Got: []string{v}, Next: true})
	}
	for len(st.Got) < 3 {
		v, err := workflow.WaitEvent[string](ctx, "e").Get(ctx)
		if err != nil {
			return nil, err
		}
		st.Got = append(st.Got, v)
	}
	return st.Got, nil
}

// Events that a run received but did not wait for before it continued as
// new reach the new run, in order.
func TestAuditContinueAsNewKeepsReceivedEvents(t *testing.T) {
	eachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, func(w *worker.Worker) {
			mustReg(worker.RegisterWorkflow(w, AuditCarryWorkflow))
			mustReg(worker.RegisterActivity(w, auditWaitGate))
		})
		gate := t.Name()
		id, err := e.c.StartWorkflow(e.ctx, AuditCarryWorkflow, carryState{Gate: gate}, perdure.StartOptions{})
		must(t, err)
		must(t, e.c.RaiseEvent(e.ctx, id, "e", "a"))
		waitHistory(t, e, id, 3) // started, a, TaskScheduled
		must(t, e.c.RaiseEvent(e.ctx, id, "e", "b"))
		must(t, e.c.RaiseEvent(e.ctx, id, "e", "c"))
		eventually(t, "the run to receive b and c", func() bool {
			h, _ := e.c.History(e.ctx, id, "")
			n := 0
			for _, ev := range h {
				if ev.Type == history.EventRaised {
					n++
				}
			}
			return n == 3
		})
		close(auditGate(gate))
		ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
		defer cancel()
		got, err := perdure.GetResult[[]string](ctx, e.c, id)
		must(t, err)
		if strings.Join(got, ",") != "a,b,c" {
			t.Fatalf("got %v, want [a b c]", got)
		}
	})
}
