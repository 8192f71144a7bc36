package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
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

func TestBenchChain3JSON(t *testing.T) {
	out, progress, err := runBench(t, "chain3", "-n", "20", "-l", "5", "--output", "json")
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
	for _, k := range []string{"workflows_per_second", "p50_ms", "p99_ms", "fsync_ms"} {
		if v, ok := m[k].(float64); !ok || v <= 0 {
			t.Errorf("%s = %#v, want a positive number", k, m[k])
		}
	}
	if m["scenario"] != "chain3" || m["mode"] != "embedded" || m["store"] != "sqlite" || m["workflows"] != 20.0 || m["latency_runs"] != 5.0 {
		t.Errorf("figures %v", m)
	}
	if !strings.Contains(progress, "chain3: throughput") {
		t.Errorf("no progress on stderr:\n%s", progress)
	}
}

func TestBenchListsAndRefuses(t *testing.T) {
	out, _, err := runBench(t)
	if err != nil || !strings.Contains(out, "chain3") || !strings.Contains(out, "sleepers") || !strings.Contains(out, "long-history") {
		t.Errorf("bench with no scenario: %v\n%s", err, out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"sleepers"}, "not available yet"},
		{[]string{"long-history"}, "not available yet"},
		{[]string{"chain3", "--mode", "http"}, "not available yet"},
		{[]string{"chain3", "--output", "yaml"}, "--output"},
		{[]string{"nope"}, "unknown scenario"},
	} {
		if _, _, err := runBench(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("bench %s: %v, want an error containing %q", strings.Join(c.args, " "), err, c.want)
		}
	}
}
