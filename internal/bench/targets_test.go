package bench

import (
	"bytes"
	"strings"
	"testing"
)

// targetFigures are figures of every target run, each target met.
func targetFigures() map[string]map[string]any {
	return map[string]map[string]any{
		Chain3: {"workflows_per_second": 8000.0, "p50_ms": 0.9, "p99_ms": 3.0, "fsync_ms": 0.09,
			"wal_fsync_ms": 0.12, "engine_p50_ms": 0.35, "cpu_us_per_workflow": 180.0},
		Chain3HTTP:  {"workflows_per_second": 3600.0, ShareOfEmbedded: 45.0},
		Fanout:      {"seconds": 0.1},
		LongHistory: {"resume_p50_ms": 30.0},
		Sleepers:    {"rss_mb": 120.0, "timer_late_p99_ms": 4.0, "completed": 100000.0, "sleepers": 100000.0},
	}
}

func TestCheckTargets(t *testing.T) {
	figs := targetFigures()
	r, err := CheckTargets(figs, 3)
	if err != nil {
		t.Fatal(err)
	}
	if r.Of != 8 || r.Met != 8 {
		t.Fatalf("met %d of %d, want 8 of 8: %+v", r.Met, r.Of, r.Checks)
	}

	// Each target fails on its own side of its limit.
	figs[Chain3]["workflows_per_second"] = 4999.0
	figs[Chain3]["p50_ms"] = 1.001
	figs[Fanout]["seconds"] = 0.5 // at the limit: met
	figs[Chain3HTTP][ShareOfEmbedded] = 39.9
	if r, err = CheckTargets(figs, 3); err != nil {
		t.Fatal(err)
	}
	missed := map[string]bool{}
	for _, c := range r.Checks {
		if !c.Met {
			missed[c.Target] = true
		}
	}
	if r.Met != 5 || !missed["chain3 throughput"] || !missed["chain3 latency p50"] || !missed["chain3 over HTTP, share of embedded"] {
		t.Fatalf("met %d, missed %v; want throughput, p50 and HTTP missed, the rest met", r.Met, missed)
	}
	var out bytes.Buffer
	if err := Write(&out, r, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "targets: 5 of 8 met") || strings.Count(out.String(), "NOT MET") != 3 {
		t.Fatalf("table:\n%s", out.String())
	}
	m := lastJSON(t, out.String(), "scenario", "met", "of", "fsync_ms", "engine_p50_ms", "repeat")
	if m["scenario"] != Targets || m["met"] != 5.0 || m["of"] != 8.0 {
		t.Fatalf("JSON %v", m)
	}

	// A figure missing, or a sleeper lost, is an error, not a verdict.
	delete(figs[LongHistory], "resume_p50_ms")
	if _, err := CheckTargets(figs, 3); err == nil || !strings.Contains(err.Error(), "resume_p50_ms") {
		t.Fatalf("missing figure: %v", err)
	}
	figs = targetFigures()
	figs[Sleepers]["completed"] = 99999.0
	if _, err := CheckTargets(figs, 3); err == nil || !strings.Contains(err.Error(), "99999") {
		t.Fatalf("lost sleeper: %v", err)
	}
}

func TestPairShares(t *testing.T) {
	shares, med := PairShares([]float64{8000, 9000, 0, 7000}, []float64{4000, 3600, 100, 3500})
	if len(shares) != 3 || shares[0] != 50 || shares[1] != 40 || shares[2] != 50 || med != 50 {
		t.Fatalf("shares %v, median %v; want [50 40 50], 50 (a pair without embedded throughput left out)", shares, med)
	}
	if shares, med := PairShares(nil, nil); shares != nil || med != 0 {
		t.Fatalf("no pairs: %v, %v", shares, med)
	}
}
