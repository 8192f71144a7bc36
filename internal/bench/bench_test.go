package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
		"latency_runs", "p50_ms", "p99_ms", "max_ms", "fsync_ms", "go_version", "cpus")
	if m["scenario"] != "chain3" || m["mode"] != "embedded" || m["store"] != "sqlite" || m["workflows"] != 20.0 || m["latency_runs"] != 5.0 {
		t.Errorf("figures %v", m)
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
	m := lastJSON(t, out.String(), "scenario", "mode", "store", "activities", "seconds", "activities_per_second", "fsync_ms", "go_version", "cpus")
	if m["scenario"] != "fanout" || m["activities"] != 50.0 {
		t.Errorf("figures %v", m)
	}
}

func TestNotAvailable(t *testing.T) {
	for _, s := range []string{Sleepers, LongHistory} {
		if _, err := Run(ctx(t), s, Config{}); !errors.Is(err, ErrNotAvailable) {
			t.Errorf("%s: %v, want ErrNotAvailable", s, err)
		}
	}
	if _, err := Run(ctx(t), Chain3, Config{Mode: ModeHTTP}); !errors.Is(err, ErrNotAvailable) || !strings.Contains(err.Error(), "perdure server") {
		t.Errorf("http mode: %v", err)
	}
	if _, err := Run(ctx(t), "nope", Config{}); err == nil || !strings.Contains(err.Error(), "unknown scenario") {
		t.Errorf("unknown scenario: %v", err)
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

func newBenchEnv(b *testing.B) *Env {
	e, err := NewEmbedded(Config{})
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
func BenchmarkChain3Embedded(b *testing.B) {
	e := newBenchEnv(b)
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
	e := newBenchEnv(b)
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
