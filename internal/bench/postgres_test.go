package bench

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/perdure/perdure/internal/pgtest"
)

// schemaExists reports whether the database of dsn has schema.
func schemaExists(t *testing.T, dsn, schema string) bool {
	t.Helper()
	c, err := pgConnect(ctx(t), dsn, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var n int
	if err := c.QueryRow(ctx(t), `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, schema).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

var schemaInProgress = regexp.MustCompile(`schema (perdure_bench_[0-9a-f]{12})`)

func TestChain3PostgresContract(t *testing.T) {
	dsn := pgtest.DSN(t)
	for _, nodes := range []int{1, 2} {
		var progress bytes.Buffer
		r, err := Run(ctx(t), Chain3, Config{StorePath: dsn, Nodes: nodes, Workflows: 20, LatencyRuns: 4, Progress: &progress})
		if err != nil {
			t.Fatalf("%d nodes: %v\n%s", nodes, err, progress.String())
		}
		var out bytes.Buffer
		if err := Write(&out, r, false); err != nil {
			t.Fatal(err)
		}
		m := lastJSON(t, out.String(), "scenario", "mode", "store", "nodes", "workflows", "seconds", "workflows_per_second",
			"latency_runs", "p50_ms", "p99_ms", "max_ms", "fsync_ms", "commit_ms", "go_version", "cpus")
		if m["store"] != "postgres" || m["mode"] != "embedded" || m["nodes"] != float64(nodes) || m["workflows"] != 20.0 {
			t.Errorf("%d nodes: figures %v", nodes, m)
		}
		if nodes > 1 && !strings.Contains(out.String(), "chain3 (embedded, postgres, 2 nodes)") {
			t.Errorf("the table does not say how many nodes ran:\n%s", out.String())
		}
		// The run's schema is named in the progress and dropped afterwards.
		sm := schemaInProgress.FindStringSubmatch(progress.String())
		if sm == nil {
			t.Fatalf("no schema in the progress:\n%s", progress.String())
		}
		if schemaExists(t, dsn, sm[1]) {
			t.Errorf("schema %s is left after the run", sm[1])
		}
	}
}

// TestPostgresNodesShareTheWork checks that workflows are started on each
// node in turn, and that each completes with its result whichever node
// runs its steps.
func TestPostgresNodesShareTheWork(t *testing.T) {
	dsn := pgtest.DSN(t)
	e, err := New(Config{StorePath: dsn, Nodes: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if len(e.nodes) != 2 || e.nodes[0].st == e.nodes[1].st || e.Schema == "" {
		t.Fatalf("nodes %v, schema %q", e.nodes, e.Schema)
	}
	if _, err := e.Chain3Throughput(ctx(t), 10); err != nil {
		t.Fatal(err)
	}
	per := map[*node]int{}
	for _, n := range e.started {
		per[n]++
	}
	if per[e.nodes[0]] != 5 || per[e.nodes[1]] != 5 {
		t.Errorf("starts per node: %d and %d, want 5 each", per[e.nodes[0]], per[e.nodes[1]])
	}
	// Both nodes read the same database.
	for id := range e.started {
		for i, n := range e.nodes {
			inst, err := n.client.GetInstance(ctx(t), id)
			if err != nil || inst.Status != "COMPLETED" {
				t.Fatalf("node %d: %s: %v %v", i, id, inst, err)
			}
		}
	}
}

func TestFanoutPostgresTwoNodes(t *testing.T) {
	dsn := pgtest.DSN(t)
	r, err := Run(ctx(t), Fanout, Config{StorePath: dsn, Nodes: 2, Activities: 60})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Write(&out, r, true); err != nil {
		t.Fatal(err)
	}
	m := lastJSON(t, out.String(), "scenario", "mode", "store", "nodes", "activities", "seconds", "activities_per_second", "fsync_ms", "commit_ms")
	if m["scenario"] != "fanout" || m["store"] != "postgres" || m["nodes"] != 2.0 || m["activities"] != 60.0 {
		t.Errorf("figures %v", m)
	}
}

func TestPostgresKeep(t *testing.T) {
	dsn := pgtest.DSN(t)
	e, err := New(Config{StorePath: dsn, Keep: true})
	if err != nil {
		t.Fatal(err)
	}
	schema := e.Schema
	t.Cleanup(func() {
		if err := dropSchema(dsn, schema); err != nil {
			t.Error(err)
		}
	})
	if err := e.RunChain3(ctx(t), 1); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if !schemaExists(t, dsn, schema) {
		t.Fatalf("schema %s was dropped despite Keep", schema)
	}
}

// TestPostgresOtherScenarios runs sleepers and long-history on PostgreSQL
// at small sizes.
func TestPostgresOtherScenarios(t *testing.T) {
	dsn := pgtest.DSN(t)
	r, err := Run(ctx(t), LongHistory, Config{StorePath: dsn, HistoryEvents: 200, Resumes: 1})
	if err != nil {
		t.Fatal(err)
	}
	if lr := r.(*LongHistoryResult); lr.Store != "postgres" || lr.Replayed != 1 {
		t.Errorf("long-history: %+v", lr)
	}
	r, err = Run(ctx(t), Sleepers, Config{StorePath: dsn, Sleepers: 20})
	if err != nil {
		t.Fatal(err)
	}
	if sr := r.(*SleepersResult); sr.Store != "postgres" || sr.Completed != 20 {
		t.Errorf("sleepers: %+v", sr)
	}
}

func TestRedact(t *testing.T) {
	if got := redact("postgres://perdure:s3cret@db:5432/perdure"); strings.Contains(got, "s3cret") || !strings.HasPrefix(got, "postgres://perdure:") {
		t.Errorf("redact: %q", got)
	}
}

// TestNodesNeedPostgres needs no server: the refusals come first.
func TestNodesNeedPostgres(t *testing.T) {
	for _, c := range []struct {
		scenario string
		cfg      Config
		want     string
	}{
		{Chain3, Config{Nodes: 2}, "--store postgres://"},
		{Chain3, Config{Nodes: 2, StorePath: "bench.db"}, "--store postgres://"},
		{Chain3, Config{Nodes: 2, StorePath: "postgres://nobody@127.0.0.1:1/none", Mode: ModeHTTP}, "--mode embedded"},
		{Sleepers, Config{Nodes: 2, StorePath: "postgres://nobody@127.0.0.1:1/none"}, "not available yet"},
		{LongHistory, Config{Nodes: 2, StorePath: "postgresql://nobody@127.0.0.1:1/none"}, "not available yet"},
	} {
		_, err := Run(ctx(t), c.scenario, c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %+v: %v, want an error containing %q", c.scenario, c.cfg, err, c.want)
		}
		if c.scenario != Chain3 && !errors.Is(err, ErrNotAvailable) {
			t.Errorf("%s: %v, want ErrNotAvailable", c.scenario, err)
		}
	}
}
