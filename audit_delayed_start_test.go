package perdure_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/internal/history"
	"github.com/perdure/perdure/store"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

func AuditEcho(_ workflow.Context, s string) (string, error) { return s, nil }

// workflowTasks is the number of workflow tasks run for name.
func workflowTasks(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	must(t, err)
	n := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "perdure_workflow_tasks_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == name {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

// AuditSender raises "hello" on another instance.
func AuditSender(ctx workflow.Context, target string) (string, error) {
	return "sent", workflow.SendEvent(ctx, target, "hello", "from a workflow")
}

// Messages that an instance whose start is delayed cannot take yet (a
// resume, an event sent by a workflow, any message written without the
// engine's delay) wait for the start instead of making the worker claim the
// run again and again until then.
func TestAuditMessageBeforeDelayedStartDoesNotSpin(t *testing.T) {
	eachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, nil)
		metrics := prometheus.NewRegistry()
		e.opts.Metrics = metrics
		e.restart(func(w *worker.Worker) {
			mustReg(worker.RegisterWorkflow(w, AuditEcho))
			mustReg(worker.RegisterWorkflow(w, AuditSender))
		})
		startAt := time.Now().Add(300 * time.Millisecond)
		var ids []string
		for _, how := range []string{"resume", "workflow", "raw"} {
			id, err := e.c.StartWorkflow(e.ctx, AuditEcho, how, perdure.StartOptions{StartAt: startAt})
			must(t, err)
			ids = append(ids, id)
			switch how {
			case "resume":
				must(t, e.c.Resume(e.ctx, id, "not suspended"))
			case "workflow":
				sender, err := e.c.StartWorkflow(e.ctx, AuditSender, id, perdure.StartOptions{})
				must(t, err)
				e.waitDone(sender)
			case "raw":
				errs, err := e.st.Apply(e.ctx, []store.Op{&store.MessageSendOp{InstanceID: id,
					Message: history.Message(history.EventRaised, &history.Data{Name: "x"}, time.Now().UTC().Truncate(time.Microsecond), false)}})
				must(t, err)
				must(t, errs[0])
			}
		}
		for i, id := range ids {
			got, err := perdure.GetResult[string](e.ctx, e.c, id)
			must(t, err)
			if want := []string{"resume", "workflow", "raw"}[i]; got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		}
		if n := workflowTasks(t, metrics, "AuditEcho"); n > 10 {
			t.Fatalf("%v workflow tasks for three one-step workflows: runs were claimed over and over before their start", n)
		}
	})
}
