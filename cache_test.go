package perdure_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/store/memstore"
	"github.com/perdure/perdure/worker"
)

// A workflow that only waits for an event is not kept in memory: the task
// that delivers the event replays it. One that waits on an activity stays
// cached.
func TestWaitingWorkflowsLeaveMemory(t *testing.T) {
	reg := prometheus.NewRegistry()
	st := memstore.New()
	defer st.Close()
	c, err := perdure.NewClient(perdure.Options{Store: st, Metrics: reg, Logger: testLogger()})
	must(t, err)
	defer c.Close()
	w := worker.New(c, worker.Options{})
	must(t, worker.RegisterWorkflow(w, EventWorkflow))
	must(t, worker.RegisterWorkflow(w, ChainWorkflow))
	for _, a := range []func(context.Context, int) (int, error){chainStep1, chainStep2, chainStep3} {
		must(t, worker.RegisterActivity(w, a))
	}
	must(t, worker.RegisterActivity(w, chainErrorHandler))
	must(t, w.Start())
	defer w.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	tasks := func(workflow, outcome string) float64 {
		return testutil.ToFloat64(mustCounter(t, reg, "perdure_workflow_tasks_total", map[string]string{"workflow": workflow, "outcome": outcome}))
	}
	id, err := c.StartWorkflow(ctx, EventWorkflow, time.Hour, perdure.StartOptions{})
	must(t, err)
	_, err = c.WaitForStart(ctx, id)
	must(t, err)
	must(t, c.RaiseEvent(ctx, id, "item", "a"))
	eventually(t, "the event task", func() bool { return tasks("EventWorkflow", "replayed") >= 1 })

	id, err = c.StartWorkflow(ctx, ChainWorkflow, 1, perdure.StartOptions{})
	must(t, err)
	_, err = perdure.GetResult[[]int](ctx, c, id)
	must(t, err)
	if r := tasks("ChainWorkflow", "replayed"); r != 0 {
		t.Fatalf("a workflow waiting on activities was replayed %v times; it should stay cached", r)
	}
}

// mustCounter returns the counter series with exactly these labels.
func mustCounter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	must(t, err)
	v := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if labels[l.GetName()] != l.GetValue() {
					continue metrics
				}
			}
			v = m.Counter.GetValue()
		}
	}
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x", Help: "x"}, func() float64 { return v })
}
