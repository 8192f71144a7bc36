// Package metrics exports the engine's activity as Prometheus metrics.
package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/perdure/perdure/store"
)

// Metrics implements the engine's Observer with Prometheus collectors.
type Metrics struct {
	started       *prometheus.CounterVec
	finished      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	tasks         *prometheus.CounterVec
	taskLatency   *prometheus.HistogramVec
	attempts      *prometheus.CounterVec
	attemptTime   *prometheus.HistogramVec
	commitLatency prometheus.Histogram
	commitOps     prometheus.Histogram
	commitErrors  prometheus.Counter
}

// QueueCounter is implemented by stores that can count claimable work.
type QueueCounter interface {
	QueueDepth(ctx context.Context, now time.Time) (workflowTasks, activityTasks int64, err error)
}

// WALSyncReader is implemented by stores that time the fsyncs of their
// write-ahead log (SQLite): how many took at most each of bounds, how
// many there were and their total time.
type WALSyncReader interface {
	WALSyncHistogram(bounds []time.Duration) (atMost []uint64, count uint64, total time.Duration)
}

// walSyncBounds are the buckets of perdure_wal_fsync_seconds.
var walSyncBounds = []time.Duration{50 * time.Microsecond, 100 * time.Microsecond, 150 * time.Microsecond,
	200 * time.Microsecond, 300 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 2500 * time.Microsecond}

// walSyncs exports a WALSyncReader's histogram as it is when scraped.
type walSyncs struct {
	r    WALSyncReader
	desc *prometheus.Desc
}

func (w walSyncs) Describe(ch chan<- *prometheus.Desc) { ch <- w.desc }

func (w walSyncs) Collect(ch chan<- prometheus.Metric) {
	atMost, count, total := w.r.WALSyncHistogram(walSyncBounds)
	buckets := make(map[float64]uint64, len(walSyncBounds))
	for i, b := range walSyncBounds {
		buckets[b.Seconds()] = atMost[i]
	}
	ch <- prometheus.MustNewConstHistogram(w.desc, count, total.Seconds(), buckets)
}

// New creates the collectors and registers them on reg. When st can count
// its queues, queue depth gauges are registered too; when it times its
// WAL fsyncs, their histogram.
func New(reg prometheus.Registerer, st store.Store) (*Metrics, error) {
	m := &Metrics{
		started: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "perdure", Name: "workflows_started_total",
			Help: "Workflow runs started, by workflow name."}, []string{"workflow"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "perdure", Name: "workflows_finished_total",
			Help: "Workflow runs finished, by workflow name and final status (COMPLETED, FAILED, TERMINATED, CONTINUED_AS_NEW)."}, []string{"workflow", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "perdure", Name: "workflow_duration_seconds",
			Help: "Time from a run's creation to its end.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 12)}, []string{"workflow"}),
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "perdure", Name: "workflow_tasks_total",
			Help: "Workflow tasks run, by workflow name and outcome (cached, replayed, failed)."}, []string{"workflow", "outcome"}),
		taskLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "perdure", Name: "workflow_task_seconds",
			Help: "Time to run and commit one workflow task.", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)}, []string{"workflow"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "perdure", Name: "activity_attempts_total",
			Help: "Activity attempts, by activity name and outcome (completed, retried, failed, pending, lost)."}, []string{"activity", "outcome"}),
		attemptTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "perdure", Name: "activity_attempt_seconds",
			Help: "Duration of activity attempts.", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 12)}, []string{"activity"}),
		commitLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "perdure", Name: "commit_seconds",
			Help: "Latency of one group commit (transaction and fsync).", Buckets: prometheus.ExponentialBuckets(0.00005, 2.5, 14)}),
		commitOps: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "perdure", Name: "commit_batch_ops",
			Help: "Operations per group commit.", Buckets: prometheus.ExponentialBuckets(1, 2, 12)}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "perdure", Name: "commit_errors_total",
			Help: "Group commits that failed as a whole."}),
	}
	cs := []prometheus.Collector{m.started, m.finished, m.duration, m.tasks, m.taskLatency, m.attempts, m.attemptTime,
		m.commitLatency, m.commitOps, m.commitErrors}
	if qc, ok := st.(QueueCounter); ok {
		depth := func(activities bool) func() float64 {
			return func() float64 {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				w, a, err := qc.QueueDepth(ctx, time.Now())
				if err != nil {
					return -1
				}
				if activities {
					return float64(a)
				}
				return float64(w)
			}
		}
		cs = append(cs,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "perdure", Name: "queue_depth",
				Help: "Claimable work waiting for a worker.", ConstLabels: prometheus.Labels{"queue": "workflow"}}, depth(false)),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "perdure", Name: "queue_depth",
				Help: "Claimable work waiting for a worker.", ConstLabels: prometheus.Labels{"queue": "activity"}}, depth(true)))
	}
	if wr, ok := st.(WALSyncReader); ok {
		cs = append(cs, walSyncs{r: wr, desc: prometheus.NewDesc("perdure_wal_fsync_seconds",
			"Duration of the fsyncs of the SQLite write-ahead log, which each durable commit waits for (every store of the process).", nil, nil)})
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// WorkflowStarted implements the engine's Observer.
func (m *Metrics) WorkflowStarted(name string) { m.started.WithLabelValues(name).Inc() }

// WorkflowFinished implements the engine's Observer.
func (m *Metrics) WorkflowFinished(name string, status store.Status, d time.Duration) {
	m.finished.WithLabelValues(name, string(status)).Inc()
	m.duration.WithLabelValues(name).Observe(d.Seconds())
}

// WorkflowTask implements the engine's Observer.
func (m *Metrics) WorkflowTask(name string, replayed, failed bool, d time.Duration) {
	outcome := "cached"
	switch {
	case failed:
		outcome = "failed"
	case replayed:
		outcome = "replayed"
	}
	// The time first: a gathering begun once the task is counted sees its
	// time (one gathering is no snapshot of both).
	m.taskLatency.WithLabelValues(name).Observe(d.Seconds())
	m.tasks.WithLabelValues(name, outcome).Inc()
}

// ActivityAttempt implements the engine's Observer.
func (m *Metrics) ActivityAttempt(name, outcome string, d time.Duration) {
	m.attemptTime.WithLabelValues(name).Observe(d.Seconds())
	m.attempts.WithLabelValues(name, outcome).Inc()
}

// Commit implements the engine's Observer.
func (m *Metrics) Commit(ops int, d time.Duration, err error) {
	if err != nil {
		m.commitErrors.Inc()
		return
	}
	m.commitLatency.Observe(d.Seconds())
	m.commitOps.Observe(float64(ops))
}
