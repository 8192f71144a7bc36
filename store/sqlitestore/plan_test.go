package sqlitestore

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestQueryPlans checks that claims, NextWakeup and the inbox use their
// indexes instead of scanning tables.
func TestQueryPlans(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "plan.db"))
	ctx := context.Background()
	for _, c := range []struct{ query, index string }{
		{`SELECT run_id FROM runs WHERE ready_at <= 1 AND ('' = '' OR name IN (SELECT value FROM json_each(''))) ORDER BY ready_at LIMIT 10`, "runs_ready"},
		{`SELECT MIN(ready_at) FROM runs WHERE ready_at > 1`, "runs_ready"},
		{`SELECT run_id FROM activity_tasks WHERE due_at <= 1 AND ('' = '' OR name IN (SELECT value FROM json_each(''))) ORDER BY due_at LIMIT 10`, "activity_tasks_due"},
		{`SELECT MIN(due_at) FROM activity_tasks WHERE due_at > 1`, "activity_tasks_due"},
		{`SELECT id FROM messages WHERE run_id = 'r' ORDER BY id`, "messages_run"},
		{`SELECT run_id FROM runs WHERE instance_id = 'i' AND is_current = 1`, "runs_current"},
		{`SELECT instance_id FROM runs WHERE is_current = 1 AND status IN ('COMPLETED', 'FAILED', 'TERMINATED', 'CONTINUED_AS_NEW') AND status IN ('FAILED') ORDER BY completed_at, instance_id LIMIT 5`, "runs_finished"},
		{`SELECT run_id FROM runs WHERE is_current = 1 ORDER BY created_at DESC, run_id DESC LIMIT 5`, "runs_created"},
	} {
		rows, err := s.rdb.QueryContext(ctx, "EXPLAIN QUERY PLAN "+c.query)
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
