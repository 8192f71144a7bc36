package metrics_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/perdure/perdure/internal/history"
	"github.com/perdure/perdure/internal/metrics"
	"github.com/perdure/perdure/store"
	"github.com/perdure/perdure/store/memstore"
	"github.com/perdure/perdure/store/sqlitestore"
)

func TestQueueDepthGauges(t *testing.T) {
	sq, err := sqlitestore.Open(filepath.Join(t.TempDir(), "m.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sq.Close()
	for name, st := range map[string]store.Store{"memory": memstore.New(), "sqlite": sq} {
		t.Run(name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m, err := metrics.New(reg, st)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now().UTC().Truncate(time.Microsecond)
			var ops []store.Op
			for i := range 3 {
				id := name + string(rune('a'+i))
				ops = append(ops, &store.RunCreateOp{
					Run:   store.Run{InstanceID: id, RunID: id + "-run", Name: "W", Status: store.StatusPending, CreatedAt: now, UpdatedAt: now},
					Start: history.Message(history.ExecutionStarted, &history.Data{Name: "W"}, now.Add(-time.Second), false),
				})
			}
			errs, err := st.Apply(context.Background(), ops)
			if err != nil || errs[0] != nil {
				t.Fatal(err, errs)
			}
			if got := testutil.ToFloat64(gauge(t, reg, "workflow")); got != 3 {
				t.Fatalf("workflow queue depth %v, want 3", got)
			}
			if got := testutil.ToFloat64(gauge(t, reg, "activity")); got != 0 {
				t.Fatalf("activity queue depth %v, want 0", got)
			}
			m.WorkflowStarted("W")
			m.ActivityAttempt("a", "retried", time.Millisecond)
			m.Commit(4, time.Millisecond, nil)
			if n := testutil.CollectAndCount(reg, "perdure_workflows_started_total", "perdure_activity_attempts_total", "perdure_commit_seconds"); n != 3 {
				t.Fatalf("%d series, want 3", n)
			}
			// SQLite times its WAL's fsyncs: the commit above made one.
			want := 0
			if name == "sqlite" {
				want = 1
			}
			if n := testutil.CollectAndCount(reg, "perdure_wal_fsync_seconds"); n != want {
				t.Fatalf("%d perdure_wal_fsync_seconds series, want %d", n, want)
			}
			if want == 1 {
				h := histogram(t, reg, "perdure_wal_fsync_seconds")
				if h.GetSampleCount() < 1 || h.GetSampleSum() <= 0 || len(h.Bucket) != 8 {
					t.Fatalf("WAL fsync histogram: %d fsyncs, %v s, %d buckets; want at least 1, a positive time, 8 buckets",
						h.GetSampleCount(), h.GetSampleSum(), len(h.Bucket))
				}
				for i, b := range h.Bucket {
					if i > 0 && b.GetCumulativeCount() < h.Bucket[i-1].GetCumulativeCount() || b.GetCumulativeCount() > h.GetSampleCount() {
						t.Fatalf("bucket %d (≤ %v s) counts %d: not cumulative in %v", i, b.GetUpperBound(), b.GetCumulativeCount(), h.Bucket)
					}
				}
			}
		})
	}
}

// gauge returns the queue_depth series with the given queue label.
func gauge(t *testing.T, reg *prometheus.Registry, queue string) prometheus.Collector {
	t.Helper()
	return collectorFunc(func(ch chan<- prometheus.Metric) {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "perdure_queue_depth" {
				continue
			}
			for _, m := range mf.Metric {
				for _, l := range m.Label {
					if l.GetName() == "queue" && l.GetValue() == queue {
						ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("q", "q", nil, nil), prometheus.GaugeValue, m.Gauge.GetValue())
					}
				}
			}
		}
	})
}

type collectorFunc func(chan<- prometheus.Metric)

func (f collectorFunc) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(f, ch) }
func (f collectorFunc) Collect(ch chan<- prometheus.Metric) { f(ch) }

// histogram returns the histogram of the series name in reg.
func histogram(t *testing.T, reg *prometheus.Registry, name string) *dto.Histogram {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) == 1 {
			return mf.Metric[0].GetHistogram()
		}
	}
	t.Fatalf("no single series %s", name)
	return nil
}
