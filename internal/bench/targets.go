package bench

import (
	"fmt"
	"io"
	"strconv"
)

// Targets is the name perdure bench gives to its run of every scenario
// against the targets below (perdure bench targets).
const Targets = "targets"

// A TargetRun is one set of runs perdure bench targets makes: a scenario
// with flags, and its name among the figures (a scenario's own name, or
// Chain3HTTP for chain3 over HTTP).
type TargetRun struct {
	Name, Scenario string
	Args           []string
	// Once: a single run even when the others repeat (sleepers takes
	// minutes, and its figures are the spread of 100,000 samples already).
	Once bool
}

// Chain3Runs are embedded chain3 and chain3 over HTTP, which perdure
// bench targets runs in turn: the HTTP target reads the median of each
// pair's ratio, as ShareOfEmbedded among the figures of Chain3HTTP.
var Chain3Runs = [2]TargetRun{
	{Name: Chain3, Scenario: Chain3},
	{Name: Chain3HTTP, Scenario: Chain3, Args: []string{"--mode", ModeHTTP}},
}

// TargetRuns are the other runs whose figures the targets read. All run
// with the default sizes.
var TargetRuns = []TargetRun{
	{Name: Fanout, Scenario: Fanout},
	{Name: LongHistory, Scenario: LongHistory},
	{Name: Sleepers, Scenario: Sleepers, Once: true},
}

// Chain3HTTP names the figures of chain3 over HTTP among TargetRuns.
const Chain3HTTP = "chain3-http"

// ShareOfEmbedded is the figure of chain3 over HTTP that its target reads:
// the median, over pairs of runs made in turn, of its throughput as a
// percentage of embedded chain3's.
const ShareOfEmbedded = "share_of_embedded_pct"

// PairShares returns the throughput of each HTTP run as a percentage of
// the embedded run made with it, and their median.
func PairShares(embedded, http []float64) (shares []float64, med float64) {
	for i := range min(len(embedded), len(http)) {
		if embedded[i] > 0 {
			shares = append(shares, round1(100*http[i]/embedded[i]))
		}
	}
	if len(shares) == 0 {
		return nil, 0
	}
	return shares, median(shares)
}

// target is one of the targets on a 2-core machine, embedded
// SQLite with durable commits: the figure key of run, at least (or at
// most) limit.
type target struct {
	name, run, key, unit string
	atLeast              bool
	limit                float64
}

var targets = []target{
	{"chain3 throughput", Chain3, "workflows_per_second", "workflows/s", true, 5000},
	{"chain3 latency p50", Chain3, "p50_ms", "ms", false, 1},
	{"chain3 latency p99", Chain3, "p99_ms", "ms", false, 5},
	{"fanout of 1,000 activities", Fanout, "seconds", "s", false, 0.5},
	{"sleepers: RSS while 100,000 wait", Sleepers, "rss_mb", "MB", false, 300},
	{"sleepers: timers late at p99", Sleepers, "timer_late_p99_ms", "ms", false, 50},
	{"long-history: resume of 10,000 events", LongHistory, "resume_p50_ms", "ms", false, 50},
	{"chain3 over HTTP, share of embedded", Chain3HTTP, ShareOfEmbedded, "%", true, 40},
}

// TargetCheck is a target and what the runs measured.
type TargetCheck struct {
	Target string  `json:"target"`
	Value  float64 `json:"value"`
	Limit  float64 `json:"limit"`
	AtMost bool    `json:"at_most"`
	Unit   string  `json:"unit"`
	Met    bool    `json:"met"`
}

// TargetsResult is what perdure bench targets reports; the JSON keys are
// a contract.
type TargetsResult struct {
	Scenario string        `json:"scenario"`
	Met      int           `json:"met"`
	Of       int           `json:"of"`
	Checks   []TargetCheck `json:"checks"`
	// Nothing lost: every sleeper completed.
	SleepersCompleted float64 `json:"sleepers_completed"`
	// The setting, from the chain3 runs: the disk, the engine's own part
	// of the latency, a workflow's CPU.
	FsyncMs              float64 `json:"fsync_ms"`
	WALFsyncMs           float64 `json:"wal_fsync_ms"`
	EngineP50Ms          float64 `json:"engine_p50_ms"`
	CPUMicrosPerWorkflow float64 `json:"cpu_us_per_workflow"`
	// Each pair's HTTP throughput as a percentage of embedded.
	HTTPShareRuns []float64 `json:"http_share_runs,omitempty"`
	Repeat        int       `json:"repeat"`
}

// CheckTargets compares figures, the JSON object of each of Chain3Runs
// and TargetRuns by name (with repeat runs of each but those run once,
// medians), with the targets.
func CheckTargets(figures map[string]map[string]any, repeat int) (*TargetsResult, error) {
	num := func(run, key string) (float64, error) {
		f, ok := figures[run]
		if !ok {
			return 0, fmt.Errorf("bench targets: no figures of %s", run)
		}
		v, ok := f[key].(float64)
		if !ok {
			return 0, fmt.Errorf("bench targets: %s has no figure %s", run, key)
		}
		return v, nil
	}
	r := &TargetsResult{Scenario: Targets, Repeat: repeat}
	for _, t := range targets {
		v, err := num(t.run, t.key)
		if err != nil {
			return nil, err
		}
		met := v <= t.limit
		if t.atLeast {
			met = v >= t.limit
		}
		r.Checks = append(r.Checks, TargetCheck{Target: t.name, Value: v, Limit: t.limit, AtMost: !t.atLeast, Unit: t.unit, Met: met})
		if met {
			r.Met++
		}
	}
	r.Of = len(r.Checks)
	for _, k := range []struct {
		run, key string
		to       *float64
	}{
		{Sleepers, "completed", &r.SleepersCompleted},
		{Chain3, "fsync_ms", &r.FsyncMs},
		{Chain3, "wal_fsync_ms", &r.WALFsyncMs},
		{Chain3, "engine_p50_ms", &r.EngineP50Ms},
		{Chain3, "cpu_us_per_workflow", &r.CPUMicrosPerWorkflow},
	} {
		*k.to, _ = num(k.run, k.key) // absent where not measured (CPU on some platforms)
	}
	if s, _ := num(Sleepers, "sleepers"); r.SleepersCompleted != s {
		// A lost sleeper fails the sleepers run itself; this is a second look.
		return nil, fmt.Errorf("bench targets: %v of %v sleepers completed", r.SleepersCompleted, s)
	}
	return r, nil
}

// WriteTable implements Result.
func (r *TargetsResult) WriteTable(w io.Writer) error {
	var rows [][2]string
	for _, c := range r.Checks {
		op := "≥"
		if c.AtMost {
			op = "≤"
		}
		verdict := "met"
		if !c.Met {
			verdict = "NOT MET"
		}
		rows = append(rows, [2]string{c.Target, fmt.Sprintf("%s %s (target %s %s %s)\t%s",
			number(c.Value), c.Unit, op, number(c.Limit), c.Unit, verdict)})
	}
	rows = append(rows, [2]string{"sleepers completed", number(r.SleepersCompleted)},
		[2]string{"disk fsync, WAL fsync (chain3)", fmt.Sprintf("%.3f ms, %.3f ms", r.FsyncMs, r.WALFsyncMs)},
		[2]string{"chain3 p50 less its WAL fsyncs", fmt.Sprintf("%.3f ms", r.EngineP50Ms)},
		[2]string{"CPU per chain3 workflow", cpuNote(r.CPUMicrosPerWorkflow)})
	title := fmt.Sprintf("targets: %d of %d met (medians of %d runs; sleepers once)", r.Met, r.Of, r.Repeat)
	return table(w, title, rows)
}

// number formats v as short as it reads back exactly (5000, 0.5).
func number(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
