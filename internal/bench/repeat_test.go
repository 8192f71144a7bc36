package bench

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestCombine(t *testing.T) {
	js := func(r Result) []byte {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	run := func(p50, fsync float64, resumes ...float64) []byte {
		return js(&LongHistoryResult{Scenario: LongHistory, Mode: ModeEmbedded, Store: "sqlite", Instances: 2,
			ResumeP50Ms: p50, ResumeMs: resumes, Setup: Setup{FsyncMs: fsync, GoVersion: "go1", CPUs: 2}})
	}
	c, err := Combine([][]byte{run(30, 0.1, 1, 2), run(10, 0.1, 3), run(20, 0.1)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	want := map[string]any{"resume_p50_ms": 20.0, "resume_p50_ms_runs": []any{30.0, 10.0, 20.0},
		"resume_ms": []any{1.0, 2.0, 3.0}, "fsync_ms": 0.1, "instances": 2.0, "scenario": LongHistory, "repeat": 3.0}
	for k, v := range want {
		if !reflect.DeepEqual(got[k], v) {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	if _, ok := got["fsync_ms_runs"]; ok {
		t.Errorf("a figure that did not vary has its runs listed: %s", b)
	}
	// The runs' key order, then the runs of what varied, then repeat.
	if !strings.HasPrefix(string(b), `{"scenario":"long-history","mode":"embedded"`) || !strings.HasSuffix(string(b), `"repeat":3}`) {
		t.Errorf("key order: %s", b)
	}
	var table strings.Builder
	if err := c.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "3 runs") || !strings.Contains(table.String(), "10 – 30") {
		t.Errorf("table:\n%s", table.String())
	}

	// Even: the mean of the middle two.
	c, err = Combine([][]byte{run(0.1, 1), run(0.2, 1)})
	if err != nil {
		t.Fatal(err)
	}
	if v := c.values["resume_p50_ms"]; v != 0.15 {
		t.Errorf("median of 0.1 and 0.2 = %v", v)
	}

	// Runs of different scenarios are refused.
	if _, err := Combine([][]byte{run(1, 1), js(&Chain3Result{Scenario: Chain3})}); err == nil {
		t.Error("runs of two scenarios combined")
	}
	if _, err := Combine(nil); err == nil {
		t.Error("no runs combined")
	}
	if _, err := Combine([][]byte{run(1, 1), []byte("chain3: oops")}); err == nil {
		t.Error("a run that is not JSON combined")
	}
}
