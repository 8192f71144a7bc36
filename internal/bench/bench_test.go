package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/perdure/perdure/internal/lockcheck"
)

// lastJSON checks that the last line of out is one JSON object with every
// key of keys as a positive number or a non-empty string.
func lastJSON(t *testing.T, out string, keys ...string) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	last := lines[len(lines)-1]
	var m map[string]any
	if err := json.Unmarshal([]byte(last), &m); err != nil {
		t.Fatalf("last line is not a JSON object: %v\n%s", err, out)
	}
	for _, k := range keys {
		switch v := m[k].(type) {
		case float64:
			if v <= 0 {
				t.Errorf("%s = %v, want > 0", k, v)
			}
		case string:
			if v == "" {
				t.Errorf("%s is empty", k)
			}
		default:
			t.Errorf("%s = %#v (%T), want a number or a string\n%s", k, m[k], m[k], last)
		}
	}
	return m
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestChain3Contract(t *testing.T) {
	var progress bytes.Buffer
	r, err := Run(ctx(t), Chain3, Config{Workflows: 20, LatencyRuns: 5, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Write(&out, r, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "throughput") || !strings.Contains(out.String(), "latency p99") {
		t.Errorf("no table before the JSON line:\n%s", out.String())
	}
	m := lastJSON(t, out.String(), "scenario", "mode", "store", "workflows", "seconds", "workflows_per_second",
		"latency_runs", "p50_ms", "p99_ms", "max_ms", "wal_fsync_ms", "wal_fsyncs_per_workflow", "engine_p50_ms", "engine_p99_ms", "fsync_ms", "commit_ms", "go_version", "cpus")
	if m["scenario"] != "chain3" || m["mode"] != "embedded" || m["store"] != "sqlite" || m["workflows"] != 20.0 || m["latency_runs"] != 5.0 {
		t.Errorf("figures %v", m)
	}
	// A workflow one at a time is four durable commits (the start and
	// each result), each waiting for its WAL fsync; a WAL that starts
	// over also syncs its header.
	if n := m["wal_fsyncs_per_workflow"].(float64); n < 4 || n > 4.4 {
		t.Errorf("%v WAL fsyncs a workflow, want 4", n)
	}
	if f := m["wal_fsync_ms"].(float64); f <= 0 || f >= m["p50_ms"].(float64) {
		t.Errorf("WAL fsync median %v ms: want a positive time under the p50 of %v ms", f, m["p50_ms"])
	}
	// The burst cost the process CPU: more than nothing, less than every
	// processor for the whole of the burst plus a margin for the clock.
	if runtime.GOOS != "windows" {
		burst := m["seconds"].(float64) * 1e6 / m["workflows"].(float64)
		if c, ok := m["cpu_us_per_workflow"].(float64); !ok || c <= 0 || c > burst*float64(runtime.NumCPU())*1.5+1000 {
			t.Errorf("cpu_us_per_workflow %v: want a positive time of at most all processors over a burst of %.0f µs a workflow", m["cpu_us_per_workflow"], burst)
		}
		if !strings.Contains(out.String(), "CPU per workflow in the burst") {
			t.Errorf("no CPU row in the table:\n%s", out.String())
		}
	}
	// Each run less its own WAL fsyncs (four at least) is shorter than
	// the run, so each percentile is too.
	for _, p := range []string{"p50", "p99"} {
		if e, l := m["engine_"+p+"_ms"].(float64), m[p+"_ms"].(float64); e <= 0 || e >= l {
			t.Errorf("%s less the WAL fsyncs %v ms: want a positive time under the %s of %v ms", p, e, p, l)
		}
	}
	if !strings.Contains(out.String(), "WAL fsyncs in those runs") || !strings.Contains(out.String(), "latency less its WAL fsyncs") {
		t.Errorf("no WAL fsync rows in the table:\n%s", out.String())
	}
	if !(m["p50_ms"].(float64) <= m["p99_ms"].(float64) && m["p99_ms"].(float64) <= m["max_ms"].(float64)) {
		t.Errorf("p50 %v, p99 %v, max %v are not in order", m["p50_ms"], m["p99_ms"], m["max_ms"])
	}
	for _, phase := range []string{"warm-up", "throughput", "latency"} {
		if !strings.Contains(progress.String(), phase) {
			t.Errorf("no %s line in the progress:\n%s", phase, progress.String())
		}
	}

	out.Reset()
	if err := Write(&out, r, true); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\n"); n != 1 {
		t.Errorf("JSON only output has %d lines:\n%s", n, out.String())
	}
}

func TestFanoutContract(t *testing.T) {
	r, err := Run(ctx(t), Fanout, Config{Activities: 50})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Write(&out, r, false); err != nil {
		t.Fatal(err)
	}
	m := lastJSON(t, out.String(), "scenario", "mode", "store", "activities", "seconds", "activities_per_second", "fsync_ms", "commit_ms", "go_version", "cpus")
	if m["scenario"] != "fanout" || m["activities"] != 50.0 {
		t.Errorf("figures %v", m)
	}
}

func TestModes(t *testing.T) {
	for _, s := range []string{Sleepers, LongHistory} {
		if _, err := Run(ctx(t), s, Config{Mode: ModeHTTP}); !errors.Is(err, ErrNotAvailable) || !strings.Contains(err.Error(), "--mode embedded") {
			t.Errorf("%s in http mode: %v, want ErrNotAvailable", s, err)
		}
	}
	if _, err := Run(ctx(t), Chain3, Config{Mode: "pigeon"}); err == nil || !strings.Contains(err.Error(), "use embedded, http or grpc") {
		t.Errorf("unknown mode: %v", err)
	}
	for _, s := range []string{Sleepers, LongHistory} {
		if _, err := Run(ctx(t), s, Config{Mode: ModeGRPC}); !errors.Is(err, ErrNotAvailable) {
			t.Errorf("%s in grpc mode: %v, want ErrNotAvailable", s, err)
		}
	}
	if _, err := Run(ctx(t), "nope", Config{}); err == nil || !strings.Contains(err.Error(), "unknown scenario") {
		t.Errorf("unknown scenario: %v", err)
	}
	for _, s := range Scenarios {
		if !s.Available {
			t.Errorf("%s is not available", s.Name)
		}
	}
}

func TestChain3HTTPContract(t *testing.T) {
	var progress bytes.Buffer
	r, err := Run(ctx(t), Chain3, Config{Mode: ModeHTTP, Workflows: 20, LatencyRuns: 5, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Write(&out, r, false); err != nil {
		t.Fatal(err)
	}
	m := lastJSON(t, out.String(), "scenario", "mode", "store", "workflows", "seconds", "workflows_per_second",
		"latency_runs", "p50_ms", "p99_ms", "max_ms", "fsync_ms", "commit_ms", "go_version", "cpus")
	if m["scenario"] != "chain3" || m["mode"] != "http" || m["workflows"] != 20.0 || m["latency_runs"] != 5.0 {
		t.Errorf("figures %v", m)
	}
	if !strings.Contains(progress.String(), "perdure server on http://127.0.0.1:") {
		t.Errorf("the progress does not name the server:\n%s", progress.String())
	}
}

func TestFanoutHTTPContract(t *testing.T) {
	r, err := Run(ctx(t), Fanout, Config{Mode: ModeHTTP, Activities: 50})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Write(&out, r, true); err != nil {
		t.Fatal(err)
	}
	m := lastJSON(t, out.String(), "scenario", "mode", "store", "activities", "seconds", "activities_per_second", "fsync_ms", "commit_ms", "go_version", "cpus")
	if m["scenario"] != "fanout" || m["mode"] != "http" || m["activities"] != 50.0 {
		t.Errorf("figures %v", m)
	}
}

// TestGRPCContract runs chain3 and fanout in gRPC mode: the Go SDK's
// worker and client on the Durable Task gRPC API.
func TestGRPCContract(t *testing.T) {
	r, err := Run(ctx(t), Chain3, Config{Mode: ModeGRPC, Workflows: 40, LatencyRuns: 5})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Write(&out, r, true); err != nil {
		t.Fatal(err)
	}
	m := lastJSON(t, out.String(), "scenario", "mode", "store", "workflows_per_second", "p50_ms", "p99_ms", "fsync_ms")
	if m["scenario"] != "chain3" || m["mode"] != "grpc" || m["workflows"] != 40.0 {
		t.Errorf("figures %v", m)
	}
	if r, err = Run(ctx(t), Fanout, Config{Mode: ModeGRPC, Activities: 30}); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := Write(&out, r, true); err != nil {
		t.Fatal(err)
	}
	if m := lastJSON(t, out.String(), "scenario", "mode", "activities"); m["mode"] != "grpc" || m["activities"] != 30.0 {
		t.Errorf("figures %v", m)
	}
}

// TestGRPCGoesThroughTheSDK checks that gRPC mode runs the workflows in
// the SDK's worker, not in Perdure's Go worker: the history records the
// SDK's task options, which only the gRPC service writes.
func TestGRPCGoesThroughTheSDK(t *testing.T) {
	e, err := New(Config{Mode: ModeGRPC})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.grpc == nil || !strings.HasPrefix(e.URL, "grpc://127.0.0.1:") {
		t.Fatalf("no gRPC server: %q", e.URL)
	}
	id, err := e.start(ctx(t), Chain3Workflow, 4)
	if err != nil {
		t.Fatal(err)
	}
	var out int
	if err := e.result(ctx(t), id, &out); err != nil || out != 7 {
		t.Fatalf("result %d %v, want 7", out, err)
	}
	h, err := e.Client.History(ctx(t), id, "")
	if err != nil {
		t.Fatal(err)
	}
	sdk := 0
	for _, ev := range h {
		if ev.Type == "TaskScheduled" && ev.TaskQueue == "durabletask" {
			sdk++
		}
	}
	if sdk != 3 {
		t.Fatalf("%d activities scheduled on the SDK's task queue, want 3", sdk)
	}
}

// TestHTTPGoesOverTCP checks that HTTP mode drives the node through the
// server: a workflow started over HTTP is seen by the engine, and a wrong
// result is reported.
func TestHTTPGoesOverTCP(t *testing.T) {
	e, err := New(Config{Mode: ModeHTTP})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.HTTP == nil || !strings.HasPrefix(e.URL, "http://127.0.0.1:") {
		t.Fatalf("no HTTP server: %q", e.URL)
	}
	id, err := e.start(ctx(t), Chain3Workflow, 4)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := e.Client.WaitForCompletion(ctx(t), id)
	if err != nil || inst.Status != "COMPLETED" {
		t.Fatalf("%v %v", inst, err)
	}
	var out string
	if err := e.result(ctx(t), id, &out); err == nil {
		t.Errorf("an int output decoded into a string: %q", out)
	}
}

func TestSleepersContract(t *testing.T) {
	var progress bytes.Buffer
	r, err := Run(ctx(t), Sleepers, Config{Sleepers: 200, Progress: &progress})
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	var out bytes.Buffer
	if err := Write(&out, r, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "RSS while all wait") || !strings.Contains(out.String(), "timer fired late") {
		t.Errorf("no table before the JSON line:\n%s", out.String())
	}
	m := lastJSON(t, out.String(), "scenario", "mode", "store", "sleepers", "timer_workflows", "event_workflows",
		"start_seconds", "starts_per_second", "rss_mb", "heap_mb", "go_sys_mb", "goroutines", "base_rss_mb", "base_heap_mb",
		"events_waiting_rss_mb", "events_waiting_heap_mb", "peak_rss_mb", "timer_rate", "timer_seconds", "timers_per_second",
		"timer_late_p50_ms", "timer_late_p99_ms", "timer_late_max_ms", "timer_done_late_p50_ms", "timer_done_late_p99_ms",
		"timer_done_late_max_ms", "event_concurrency", "event_seconds", "events_per_second", "event_p50_ms", "event_p99_ms",
		"event_max_ms", "completed", "fsync_ms", "commit_ms", "workflow_tasks", "concurrent_activities", "go_version", "cpus")
	if m["scenario"] != "sleepers" || m["mode"] != "embedded" || m["sleepers"] != 200.0 || m["completed"] != 200.0 ||
		m["timer_workflows"] != 100.0 || m["event_workflows"] != 100.0 || m["timer_rate"] != 1000.0 {
		t.Errorf("figures %v", m)
	}
	// Every timer and event reached its workflow in one workflow task,
	// from the cache or by replay.
	if n := m["timer_tasks_cached"].(float64) + m["timer_tasks_replayed"].(float64); n != 100 {
		t.Errorf("%v timer tasks, want 100", n)
	}
	if n := m["event_tasks_cached"].(float64) + m["event_tasks_replayed"].(float64); n != 100 {
		t.Errorf("%v event tasks, want 100", n)
	}
	// A run that waits on an event only is dropped from the cache.
	if m["event_tasks_replayed"] != 100.0 {
		t.Errorf("event tasks replayed %v, want all 100", m["event_tasks_replayed"])
	}
	sr := r.(*SleepersResult)
	if sr.TimerLateP50Ms > sr.TimerLateP99Ms || sr.TimerLateP99Ms > sr.TimerLateMaxMs || sr.EventP50Ms > sr.EventP99Ms {
		t.Errorf("percentiles out of order: %+v", sr)
	}
	for _, phase := range []string{"before:", "event sleepers waiting", "while 200 wait", "timers: fired late", "events: 100 delivered"} {
		if !strings.Contains(progress.String(), phase) {
			t.Errorf("no %q line in the progress:\n%s", phase, progress.String())
		}
	}
}

func TestLongHistoryContract(t *testing.T) {
	var progress bytes.Buffer
	r, err := Run(ctx(t), LongHistory, Config{HistoryEvents: 1000, Resumes: 2, Progress: &progress})
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	var out bytes.Buffer
	if err := Write(&out, r, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "resume (raise → result) median") {
		t.Errorf("no table before the JSON line:\n%s", out.String())
	}
	m := lastJSON(t, out.String(), "scenario", "mode", "store", "instances", "history_events", "build_seconds",
		"resume_p50_ms", "resume_max_ms", "resume_min_ms", "resume_task_p50_ms", "resume_task_max_ms", "replayed",
		"fsync_ms", "commit_ms", "workflow_tasks", "concurrent_activities", "go_version", "cpus")
	if m["scenario"] != "long-history" || m["instances"] != 2.0 || m["replayed"] != 2.0 || m["history_events"].(float64) < 1000 {
		t.Errorf("figures %v", m)
	}
	if s, ok := m["resume_ms"].([]any); !ok || len(s) != 2 {
		t.Errorf("resume_ms = %#v, want 2 samples", m["resume_ms"])
	}
	lr := r.(*LongHistoryResult)
	if lr.ResumeMinMs > lr.ResumeP50Ms || lr.ResumeP50Ms > lr.ResumeMaxMs || lr.TaskP50Ms > lr.ResumeMaxMs {
		t.Errorf("figures out of order: %+v", lr)
	}
}

// TestLongHistoryWorkflowResult checks the workflow's own contract: the
// sum of its activities plus the event's value.
func TestLongHistoryWorkflowResult(t *testing.T) {
	e, err := New(Config{observe: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	id, err := e.start(ctx(t), LongHistoryWorkflow, 10)
	if err != nil {
		t.Fatal(err)
	}
	n, err := e.waitForEvent(ctx(t), id, ResumeEvent)
	if err != nil || n != 21 {
		t.Fatalf("history of %d events (%v), want 21", n, err)
	}
	// The tasks before the wait are counted as they end, possibly after
	// the wait began: only the replayed tasks count here.
	before, err := e.taskCounts()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Client.RaiseEvent(ctx(t), id, ResumeEvent, 100); err != nil {
		t.Fatal(err)
	}
	var out int
	if err := e.result(ctx(t), id, &out); err != nil || out != 155 {
		t.Errorf("result %d (%v), want 55+100", out, err)
	}
	// The engine counts the resume after the commit the result comes from.
	var c taskCounts
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if c, err = e.taskCounts(); err != nil {
			t.Fatal(err)
		}
		if c.get("LongHistoryWorkflow", "replayed") > before.get("LongHistoryWorkflow", "replayed") || time.Now().After(deadline) {
			break
		}
	}
	if replayed := c.get("LongHistoryWorkflow", "replayed") - before.get("LongHistoryWorkflow", "replayed"); replayed != 1 {
		t.Errorf("task counts %v, before the event %v: want the resume to be one replay", c.tasks, before.tasks)
	}
}

func TestReadMem(t *testing.T) {
	m := ReadMem()
	if m.HeapBytes == 0 || m.SysBytes == 0 || m.Goroutines == 0 {
		t.Errorf("%+v", m)
	}
	if _, err := os.Stat("/proc/self/status"); err == nil && (m.RSSBytes == 0 || m.PeakRSSBytes < m.RSSBytes) {
		t.Errorf("RSS %d, peak %d", m.RSSBytes, m.PeakRSSBytes)
	}
}

func TestRefusesExistingStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "used.db")
	if err := os.WriteFile(path, []byte("not empty"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := NewEmbedded(Config{StorePath: path})
	if err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("existing store: %v, want a refusal naming --force", err)
	}
}

func TestGivenStoreReusedWithForce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.db")
	for i := range 2 {
		if _, err := Run(ctx(t), Chain3, Config{StorePath: path, Force: i > 0, Workflows: 3, LatencyRuns: 1}); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the given store is not kept: %v", err)
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 200; i++ {
		ds = append(ds, time.Duration(201-i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 100 * time.Millisecond}, {99, 198 * time.Millisecond}, {100, 200 * time.Millisecond}} {
		if got := percentile(ds, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
}

func newBenchEnv(b *testing.B, mode string) *Env {
	e, err := New(Config{Mode: mode})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	for i := range 3 {
		if err := e.RunChain3(context.Background(), i); err != nil {
			b.Fatal(err)
		}
	}
	return e
}

// BenchmarkChain3Embedded starts b.N chain3 workflows at once on a fresh
// SQLite file and waits for all of them: one op is one whole workflow.
func BenchmarkChain3Embedded(b *testing.B) { benchChain3(b, ModeEmbedded) }

func benchChain3(b *testing.B, mode string) {
	e := newBenchEnv(b, mode)
	b.ResetTimer()
	took, err := e.Chain3Throughput(context.Background(), b.N)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/took.Seconds(), "workflows/s")
	b.ReportMetric(e.FsyncMs, "fsync-ms")
}

// BenchmarkFanout1000Embedded runs one workflow over 1,000 activities per
// op.
func BenchmarkFanout1000Embedded(b *testing.B) {
	e := newBenchEnv(b, ModeEmbedded)
	var total time.Duration
	for b.Loop() {
		took, err := e.RunFanout(context.Background(), 1000)
		if err != nil {
			b.Fatal(err)
		}
		total += took
	}
	b.ReportMetric(float64(b.N)/total.Seconds(), "workflows/s")
	b.ReportMetric(1000*float64(b.N)/total.Seconds(), "activities/s")
	b.ReportMetric(e.FsyncMs, "fsync-ms")
}

// BenchmarkChain3HTTP is BenchmarkChain3Embedded through the HTTP API of
// a server on a loopback port: each workflow is a start and a long-poll.
func BenchmarkChain3HTTP(b *testing.B) { benchChain3(b, ModeHTTP) }

// BenchmarkSleepers2000Embedded runs the whole sleepers scenario with
// 2,000 sleepers per op (1,000 timers due at 1,000/s, 1,000 events) and
// reports the last run's figures.
func BenchmarkSleepers2000Embedded(b *testing.B) {
	var r *SleepersResult
	for b.Loop() {
		res, err := Run(context.Background(), Sleepers, Config{Sleepers: 2000})
		if err != nil {
			b.Fatal(err)
		}
		r = res.(*SleepersResult)
	}
	b.ReportMetric(r.RSSMB, "rss-MB")
	b.ReportMetric(r.BytesPerSleeper, "heap-B/sleeper")
	b.ReportMetric(r.TimerLateP99Ms, "timer-late-p99-ms")
	b.ReportMetric(r.EventP99Ms, "event-p99-ms")
	b.ReportMetric(r.EventsPerSecond, "events/s")
	b.ReportMetric(r.FsyncMs, "fsync-ms")
}

// BenchmarkLongHistory10000Embedded builds, outside the timer, a workflow
// of 10,000 history events that waits for an event and is evicted; one op
// is its resume: raise → result, the history loaded and replayed.
func BenchmarkLongHistory10000Embedded(b *testing.B) {
	e, err := New(Config{observe: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	ctx := context.Background()
	const activities = 5000
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		id, err := e.start(ctx, LongHistoryWorkflow, activities)
		if err == nil {
			_, err = e.waitForEvent(ctx, id, ResumeEvent)
		}
		before, err2 := e.taskCounts()
		if err = errors.Join(err, err2); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		began := time.Now()
		var out int
		err = e.Client.RaiseEvent(ctx, id, ResumeEvent, 1)
		if err == nil {
			err = e.result(ctx, id, &out)
		}
		total += time.Since(began)
		b.StopTimer()
		after, err2 := e.waitTasks("LongHistoryWorkflow", before, 1)
		if err = errors.Join(err, err2); err != nil {
			b.Fatal(err)
		}
		if out != activities*(activities+1)/2+1 {
			b.Fatalf("result %d", out)
		}
		if after.get("LongHistoryWorkflow", "replayed")-before.get("LongHistoryWorkflow", "replayed") != 1 {
			b.Fatal("the resume did not replay the history: the run was not evicted")
		}
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/resume")
	b.ReportMetric(e.FsyncMs, "fsync-ms")
}

// TestResumeProfile writes a CPU profile of long-history resumes alone
// when PERDURE_BENCH_RESUME_PROFILE names a file (the Go benchmark's
// profile also holds the builds): 20 workflows of 10,001 events are built,
// then the profile covers their resumes only. See docs/performance.md.
func TestResumeProfile(t *testing.T) {
	path := os.Getenv("PERDURE_BENCH_RESUME_PROFILE")
	if path == "" {
		t.Skip("set PERDURE_BENCH_RESUME_PROFILE=FILE to profile long-history resumes")
	}
	e, err := New(Config{observe: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	c := context.Background()
	const n, activities = 20, 5000
	ids := make([]string, n)
	for i := range ids {
		if ids[i], err = e.start(c, LongHistoryWorkflow, activities); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		if _, err := e.waitForEvent(c, id, ResumeEvent); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	writeHeap := func(suffix string) {
		if mem := os.Getenv("PERDURE_BENCH_RESUME_MEMPROFILE"); mem != "" {
			h, err := os.Create(mem + suffix)
			if err == nil {
				err = pprof.Lookup("allocs").WriteTo(h, 0)
				h.Close()
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	writeHeap(".base")
	var total time.Duration
	for i, id := range ids {
		began := time.Now()
		var out int
		err := e.Client.RaiseEvent(c, id, ResumeEvent, i)
		if err == nil {
			err = e.result(c, id, &out)
		}
		total += time.Since(began)
		if err == nil && out != activities*(activities+1)/2+i {
			err = fmt.Errorf("%s returned %d", id, out)
		}
		if err != nil {
			pprof.StopCPUProfile()
			t.Fatal(err)
		}
	}
	pprof.StopCPUProfile()
	writeHeap("")
	t.Logf("%d resumes, %v each on average; profile in %s", n, total/n, path)
}

func TestChain3ExclusiveLocking(t *testing.T) {
	lockcheck.RunChild()
	if runtime.GOOS == "windows" {
		t.Skip("no unix-excl VFS on this platform")
	}
	// The environment opens its store with exclusive locking: another
	// process cannot read it while it is open.
	e, err := New(Config{ExclusiveLocking: true, StorePath: filepath.Join(t.TempDir(), "x.db")})
	if err != nil {
		t.Fatal(err)
	}
	err = lockcheck.FromAnotherProcess("TestChain3ExclusiveLocking", e.Path)
	e.Close()
	if !lockcheck.Refused(err) {
		t.Fatalf("another process read the store of an environment with exclusive locking: %v", err)
	}

	if _, err := Run(ctx(t), Chain3, Config{ExclusiveLocking: true, StorePath: "postgres://perdure@127.0.0.1:1/none"}); err == nil || !strings.Contains(err.Error(), "--sqlite-exclusive-locking") {
		t.Fatalf("exclusive locking on PostgreSQL: %v, want an error naming the flag", err)
	}
	r, err := Run(ctx(t), Chain3, Config{Workflows: 10, LatencyRuns: 3, ExclusiveLocking: true})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Write(&out, r, false); err != nil {
		t.Fatal(err)
	}
	m := lastJSON(t, out.String(), "sqlite_locking", "workflows_per_second", "engine_p50_ms")
	if m["sqlite_locking"] != "exclusive" || !strings.Contains(out.String(), "SQLite locking") {
		t.Fatalf("a run with exclusive locking does not say so:\n%s", out.String())
	}
}
