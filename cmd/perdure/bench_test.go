package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/perdure/perdure/internal/pgtest"
)

// runBench runs `perdure bench args…` in-process and returns its stdout,
// stderr and error.
func runBench(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	root := newRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"bench"}, args...))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

// benchJSON runs `perdure bench args… --output json`, checks that it
// printed the JSON line alone, and returns the figures and the progress.
func benchJSON(t *testing.T, args ...string) (map[string]any, string) {
	t.Helper()
	out, progress, err := runBench(t, append(args, "--output", "json")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress)
	}
	if strings.Count(out, "\n") != 1 {
		t.Fatalf("--output json printed more than the JSON line:\n%s", out)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return m, progress
}

func TestBenchChain3JSON(t *testing.T) {
	m, progress := benchJSON(t, "chain3", "-n", "20", "-l", "5")
	for _, k := range []string{"workflows_per_second", "warmup_seconds", "warmup_workflows_per_second", "p50_ms", "p99_ms", "fsync_ms"} {
		if v, ok := m[k].(float64); !ok || v <= 0 {
			t.Errorf("%s = %#v, want a positive number", k, m[k])
		}
	}
	if m["scenario"] != "chain3" || m["mode"] != "embedded" || m["store"] != "sqlite" || m["workflows"] != 20.0 || m["latency_runs"] != 5.0 {
		t.Errorf("figures %v", m)
	}
	if !strings.Contains(progress, "chain3: throughput") || !strings.Contains(progress, "chain3: untimed first run: done") {
		t.Errorf("no progress on stderr, or no untimed first run:\n%s", progress)
	}
	// --cold times the first burst: no untimed one before it.
	m, progress = benchJSON(t, "chain3", "-n", "20", "-l", "5", "--cold")
	if _, ok := m["warmup_seconds"]; ok || strings.Contains(progress, "untimed first run") {
		t.Errorf("--cold ran an untimed burst first: %v\n%s", m, progress)
	}
}

func TestBenchListsAndRefuses(t *testing.T) {
	out, _, err := runBench(t)
	if err != nil || !strings.Contains(out, "chain3") || !strings.Contains(out, "sleepers") || !strings.Contains(out, "long-history") {
		t.Errorf("bench with no scenario: %v\n%s", err, out)
	}
	if strings.Contains(out, "not available yet") {
		t.Errorf("a scenario is listed as not available:\n%s", out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"sleepers", "--mode", "http"}, "not available yet"},
		{[]string{"long-history", "--mode", "http"}, "not available yet"},
		{[]string{"chain3", "--mode", "pigeon"}, "use embedded, http or grpc"},
		{[]string{"sleepers", "--mode", "grpc"}, "not available yet"},
		{[]string{"chain3", "--output", "yaml"}, "--output"},
		{[]string{"nope"}, "unknown scenario"},
	} {
		if _, _, err := runBench(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("bench %s: %v, want an error containing %q", strings.Join(c.args, " "), err, c.want)
		}
	}
}

// TestBenchNewScenariosFlags runs the new scenarios and the HTTP mode at
// small sizes through the command's flags.
func TestBenchNewScenariosFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want map[string]any
	}{
		{[]string{"chain3", "--mode", "http", "-n", "10", "-l", "2"}, map[string]any{"scenario": "chain3", "mode": "http", "workflows": 10.0}},
		{[]string{"long-history", "--history-events", "200", "--resumes", "1"}, map[string]any{"scenario": "long-history", "instances": 1.0, "replayed": 1.0}},
		{[]string{"sleepers", "--sleepers", "20", "--timer-rate", "500"}, map[string]any{"scenario": "sleepers", "sleepers": 20.0, "completed": 20.0, "timer_rate": 500.0}},
	} {
		out, progress, err := runBench(t, append(c.args, "--output", "json")...)
		if err != nil {
			t.Errorf("bench %s: %v\n%s", strings.Join(c.args, " "), err, progress)
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Errorf("bench %s: %v\n%s", strings.Join(c.args, " "), err, out)
			continue
		}
		for k, v := range c.want {
			if m[k] != v {
				t.Errorf("bench %s: %s = %v, want %v", strings.Join(c.args, " "), k, m[k], v)
			}
		}
	}
}

// TestBenchPostgres runs chain3 and fanout on PostgreSQL with two nodes
// through the command's flags.
func TestBenchPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	for _, c := range []struct {
		args []string
		want map[string]any
	}{
		{[]string{"chain3", "--store", dsn, "--nodes", "2", "--pool", "4", "-n", "10", "-l", "2"},
			map[string]any{"scenario": "chain3", "store": "postgres", "nodes": 2.0, "workflows": 10.0}},
		{[]string{"fanout", "--store", dsn, "--activities", "30"},
			map[string]any{"scenario": "fanout", "store": "postgres", "nodes": 1.0, "activities": 30.0}},
	} {
		out, progress, err := runBench(t, append(c.args, "--output", "json")...)
		if err != nil {
			t.Errorf("bench %s: %v\n%s", strings.Join(c.args, " "), err, progress)
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Errorf("bench %s: %v\n%s", strings.Join(c.args, " "), err, out)
			continue
		}
		for k, v := range c.want {
			if m[k] != v {
				t.Errorf("bench %s: %s = %v, want %v", strings.Join(c.args, " "), k, m[k], v)
			}
		}
		if v, ok := m["commit_ms"].(float64); !ok || v <= 0 {
			t.Errorf("commit_ms = %v", m["commit_ms"])
		}
		if !strings.Contains(progress, "schema perdure_bench_") {
			t.Errorf("the progress does not name the schema:\n%s", progress)
		}
	}
}

func TestBenchNodesRefused(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"chain3", "--nodes", "2"}, "--store postgres://"},
		{[]string{"sleepers", "--nodes", "2", "--store", "postgres://nobody@127.0.0.1:1/none"}, "not available yet"},
	} {
		if _, _, err := runBench(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("bench %s: %v, want an error containing %q", strings.Join(c.args, " "), err, c.want)
		}
	}
	out, _, err := runBench(t, "--help")
	if err != nil || !strings.Contains(out, "--nodes") || !strings.Contains(out, "--keep") || !strings.Contains(out, "perdure_bench_") {
		t.Errorf("bench --help does not document the PostgreSQL flags: %v\n%s", err, out)
	}
}

// --repeat runs the scenario in a fresh process on a fresh store each
// time and prints the medians, with the runs' values of what varied; it
// refuses a count below 1, a SQLite --store, which only the first run
// would find empty, and a profile, which each run would overwrite.
func TestBenchRepeat(t *testing.T) {
	t.Setenv("PERDURE_E2E_AS_CLI", "1") // the runs are this binary, acting as perdure (TestMain)
	m, progress := benchJSON(t, "chain3", "-n", "10", "-l", "3", "--repeat", "2")
	if m["repeat"] != 2.0 || m["scenario"] != "chain3" || m["workflows"] != 10.0 {
		t.Errorf("figures %v", m)
	}
	runs, ok := m["workflows_per_second_runs"].([]any)
	if !ok || len(runs) != 2 {
		t.Fatalf("workflows_per_second_runs = %#v, want the two runs' values", m["workflows_per_second_runs"])
	}
	lo, hi := runs[0].(float64), runs[1].(float64)
	if v := m["workflows_per_second"].(float64); v < min(lo, hi)-0.001 || v > max(lo, hi)+0.001 {
		t.Errorf("median %v outside the runs %v", v, runs)
	}
	if strings.Count(progress, "chain3: run ") != 2 || strings.Count(progress, `"scenario":"chain3"`) != 2 {
		t.Errorf("progress does not show each run and its figures:\n%s", progress)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"chain3", "--repeat", "0"}, "--repeat 0"},
		{[]string{"chain3", "--repeat", "2", "--store", t.TempDir() + "/b.db"}, "fresh store"},
		{[]string{"chain3", "--repeat", "2", "--trace", t.TempDir() + "/t.out"}, "profile one run"},
	} {
		if _, _, err := runBench(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("bench %s: %v, want an error containing %q", strings.Join(c.args, " "), err, c.want)
		}
	}
}
