package sqlitestore

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestQueryPlans checks that claims, NextWakeup and the inbox use their
// indexes instead of scanning tables.
func TestQueryPlans(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "plan.db"))
	ctx := context.Background()
	for _, c := range []struct {
		query string
		args  []any
		index string
	}{
		{claimRunsSQL, []any{1, "", "", "", "", "", "", 10}, "runs_ready"},
		{claimRunsSQL, []any{1, `["a","b"]`, `["a","b"]`, "", "", "", "", 10}, "runs_ready"},
		{claimRunsSQL, []any{1, "", "", `["q"]`, `["q"]`, "", "", 10}, "runs_ready"},
		{claimRunsSQL, []any{1, "", "", "", "", `["a"]`, `["a"]`, 10}, "runs_ready"},
		{nextRunSQL, []any{1}, "runs_ready"},
		{claimTasksSQL, []any{1, "", "", "", "", 10}, "activity_tasks_due"},
		{claimTasksSQL, []any{1, `["a"]`, `["a"]`, "", "", 10}, "activity_tasks_due"},
		{claimTasksSQL, []any{1, `["a"]`, `["a"]`, `["q"]`, `["q"]`, 10}, "activity_tasks_due"},
		{nextTaskSQL, []any{1}, "activity_tasks_due"},
		// LeasesRelease, without indexes of their own.
		{`UPDATE runs SET lease_owner = '' WHERE ready_at IS NOT NULL AND lease_owner <> '' AND (? = '' OR lease_owner = ?)`, []any{"", ""}, "runs_ready"},
		{`UPDATE activity_tasks SET lease_owner = '' WHERE due_at IS NOT NULL AND state = 'RUNNING' AND lease_owner <> '' AND (? = '' OR lease_owner = ?)`, []any{"o", "o"}, "activity_tasks_due"},
		{`SELECT ` + msgCols + ` FROM messages WHERE run_id = ? ORDER BY id`, []any{"r"}, "messages_run"},
		{`SELECT ` + runCols + ` FROM runs WHERE instance_id = ? AND is_current = 1`, []any{"i"}, "runs_current"},
		{`SELECT instance_id FROM runs INDEXED BY runs_finished WHERE ` + finishedCond + ` AND status IN (?) ORDER BY completed_at, instance_id LIMIT ?`, []any{"FAILED", 5}, "runs_finished"},
		{`SELECT ` + runCols + ` FROM runs WHERE is_current = 1 ORDER BY created_at DESC, run_id DESC LIMIT ?`, []any{5}, "runs_created"},
		{`SELECT ` + runCols + ` FROM runs WHERE is_current = 1 AND name = ? ORDER BY created_at DESC, run_id DESC LIMIT ?`, []any{"w", 5}, "runs_name_created"},
		{`SELECT ` + runCols + ` FROM runs WHERE is_current = 1 AND status IN (?) ORDER BY created_at DESC, run_id DESC LIMIT ?`, []any{"RUNNING", 5}, "runs_status_created"},
	} {
		rows, err := s.rdb.QueryContext(ctx, "EXPLAIN QUERY PLAN "+c.query, c.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if p := strings.Join(plan, "; "); !strings.Contains(p, c.index) {
			t.Errorf("%s\nplan: %s\nwant index %s", c.query, p, c.index)
		}
	}
}

// TestRunWritesBuildNoTemporaryTables checks that inserting a run and
// finishing one evaluate runs_finished's condition without building a
// temporary B-tree, as an IN list of the finished statuses did (migration
// 5): one per start and two per finish, on every workflow's path.
func TestRunWritesBuildNoTemporaryTables(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "plan.db"))
	for _, q := range []string{
		`INSERT INTO runs (` + runCols + `) VALUES ` + newRunRowSQL + ` ON CONFLICT DO NOTHING`,
		`INSERT INTO runs (` + runCols + `) VALUES ` + newRunRowSQL + `, ` + newRunRowSQL + ` ON CONFLICT DO NOTHING`,
		updateRunSQL[setStatus|setOutput|setCompleted],
		updateRunSQL[setStatus|setFailure|setCompleted],
		updateRunSQL[setStatus],
	} {
		_, program := rowValues(t, s, "EXPLAIN "+q, make([]any, params(q))...)
		var ops []string
		for _, in := range program {
			ops = append(ops, fmt.Sprint(in[1])) // addr, opcode, p1, …
		}
		if len(ops) == 0 {
			t.Fatalf("%s: no program", q)
		}
		if slices.Contains(ops, "OpenEphemeral") {
			t.Errorf("%s\nopens a temporary B-tree: %s", q, strings.Join(ops, " "))
		}
	}
}

// params is the number of parameters of q: its ?s, or the largest N of
// its ?Ns.
func params(q string) int {
	n, numbered := 0, 0
	for i := 0; i < len(q); i++ {
		if q[i] != '?' {
			continue
		}
		j := i + 1
		for j < len(q) && q[j] >= '0' && q[j] <= '9' {
			j++
		}
		if j == i+1 {
			n++
			continue
		}
		k, err := strconv.Atoi(q[i+1 : j])
		if err != nil {
			panic(err)
		}
		numbered = max(numbered, k)
	}
	return max(n, numbered)
}
