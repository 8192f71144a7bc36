package pgstore

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/perdure/perdure/store"
)

// read runs a query on the pool and calls fn for each row.
func (s *Store) read(ctx context.Context, what, sql string, args []any, fn func(rows pgx.Rows) error) error {
	if s.closed.Load() {
		return s.errClosed()
	}
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return s.readErr(ctx, what, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return s.readErr(ctx, what, err)
		}
	}
	return s.readErr(ctx, what, rows.Err())
}

// runExists backs the ErrNotFound answers of the run's lists.
func (s *Store) runExists(ctx context.Context, runID string) error {
	found := false
	if err := s.read(ctx, "run", `SELECT true FROM runs WHERE run_id = $1`, []any{runID}, func(pgx.Rows) error {
		found = true
		return nil
	}); err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("run %s: %w", runID, store.ErrNotFound)
	}
	return nil
}

// HistoryGet returns events of one run with ID > p.AfterID.
func (s *Store) HistoryGet(ctx context.Context, p *store.HistoryGetParams) ([]*store.Event, error) {
	var limit any
	if p.Limit > 0 {
		limit = int64(p.Limit)
	}
	var evs []*store.Event
	err := s.read(ctx, "history", `SELECT id, type, time, data FROM history WHERE run_id = $1 AND id > $2 ORDER BY id LIMIT $3::bigint`,
		[]any{p.RunID, p.AfterID, limit}, func(rows pgx.Rows) error {
			var e store.Event
			if err := rows.Scan(&e.ID, &e.Type, &e.Time, &e.Data); err != nil {
				return err
			}
			evs = append(evs, &e)
			return nil
		})
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		if err := s.runExists(ctx, p.RunID); err != nil {
			return nil, err
		}
	}
	return evs, nil
}

// MessageList returns the inbox of a run in ID order.
func (s *Store) MessageList(ctx context.Context, runID string) ([]*store.Message, error) {
	var ms []*store.Message
	err := s.read(ctx, "messages", `SELECT `+msgCols+` FROM messages WHERE run_id = $1 ORDER BY id`, []any{runID}, func(rows pgx.Rows) error {
		m, err := scanMsg(rows)
		ms = append(ms, m)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		if err := s.runExists(ctx, runID); err != nil {
			return nil, err
		}
	}
	return ms, nil
}

// ActivityTaskList returns the unfinished activity tasks of a run by seq.
func (s *Store) ActivityTaskList(ctx context.Context, runID string) ([]*store.ActivityTask, error) {
	var ts []*store.ActivityTask
	err := s.read(ctx, "activity tasks", `SELECT `+taskCols+` FROM activity_tasks WHERE run_id = $1 ORDER BY seq`, []any{runID}, func(rows pgx.Rows) error {
		t, err := scanTask(rows)
		ts = append(ts, t)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		if err := s.runExists(ctx, runID); err != nil {
			return nil, err
		}
	}
	return ts, nil
}

// ActivityTaskGet returns one unfinished activity task.
func (s *Store) ActivityTaskGet(ctx context.Context, runID string, seq int64) (*store.ActivityTask, error) {
	var t *store.ActivityTask
	err := s.read(ctx, "activity task", `SELECT `+taskCols+` FROM activity_tasks WHERE run_id = $1 AND seq = $2`, []any{runID, seq}, func(rows pgx.Rows) (err error) {
		t, err = scanTask(rows)
		return err
	})
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, fmt.Errorf("activity task %s/%d: %w", runID, seq, store.ErrNotFound)
	}
	return t, nil
}

// NextWakeup returns the earliest due time after after.
func (s *Store) NextWakeup(ctx context.Context, after time.Time) (time.Time, bool, error) {
	var next *time.Time
	err := s.read(ctx, "next wake-up", `SELECT LEAST(
			(SELECT MIN(ready_at) FROM runs WHERE ready_at > $1::timestamptz),
			(SELECT MIN(due_at) FROM activity_tasks WHERE due_at > $1))`,
		[]any{utc(after)}, func(rows pgx.Rows) error { return rows.Scan(&next) })
	if err != nil || next == nil {
		return time.Time{}, false, err
	}
	return *next, true, nil
}

// QueueDepth counts the runs with a claimable workflow task and the READY
// activity tasks that are visible at now (for the queue depth metric).
func (s *Store) QueueDepth(ctx context.Context, now time.Time) (workflowTasks, activityTasks int64, err error) {
	err = s.read(ctx, "queue depth", `SELECT
			(SELECT COUNT(*) FROM runs WHERE ready_at <= $1::timestamptz),
			(SELECT COUNT(*) FROM activity_tasks WHERE due_at <= $1 AND state = 'READY')`,
		[]any{utc(now)}, func(rows pgx.Rows) error { return rows.Scan(&workflowTasks, &activityTasks) })
	return workflowTasks, activityTasks, err
}

// filter builds the WHERE clause of a query with numbered parameters.
type filter struct {
	where []string
	args  []any
}

// arg adds a parameter and returns its placeholder.
func (f *filter) arg(v any) string {
	f.args = append(f.args, v)
	return "$" + strconv.Itoa(len(f.args))
}

func (f *filter) add(cond string) { f.where = append(f.where, cond) }

func (f *filter) sql() string {
	if len(f.where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(f.where, " AND ")
}

// runFilter turns the filters of p into conditions; withStatus says
// whether p.Statuses is one of them.
func runFilter(p *store.RunListParams, withStatus bool) *filter {
	f := &filter{}
	if !p.AllRuns {
		f.add(`is_current`)
	}
	if p.Name != "" {
		f.add(`name = ` + f.arg(p.Name))
	}
	if withStatus && len(p.Statuses) > 0 {
		st := make([]string, len(p.Statuses))
		for i, s := range p.Statuses {
			st[i] = string(s)
		}
		f.add(`status = ANY(` + f.arg(st) + `::text[])`)
	}
	if prefix, ok := strings.CutSuffix(p.InstanceID, "*"); ok {
		if prefix != "" {
			f.add(`instance_id >= ` + f.arg(prefix))
			if end := prefixEnd(prefix); end != "" {
				f.add(`instance_id < ` + f.arg(end))
			}
		}
	} else if p.InstanceID != "" {
		f.add(`instance_id = ` + f.arg(p.InstanceID))
	}
	if !p.CreatedAfter.IsZero() {
		f.add(`created_at >= ` + f.arg(utc(p.CreatedAfter)))
	}
	if !p.CreatedBefore.IsZero() {
		f.add(`created_at < ` + f.arg(utc(p.CreatedBefore)))
	}
	return f
}

// prefixEnd returns the smallest string greater than every string that
// starts with p, or "" when there is none. Valid UTF-8 orders as its code
// points do, so the last code point that can grow grows.
func prefixEnd(p string) string {
	if !utf8.ValidString(p) {
		return ""
	}
	rs := []rune(p)
	for i := len(rs) - 1; i >= 0; i-- {
		next := rs[i] + 1
		if next == 0xD800 { // surrogates are not valid UTF-8
			next = 0xE000
		}
		if next <= utf8.MaxRune {
			rs[i] = next
			return string(rs[:i+1])
		}
	}
	return ""
}

// RunCounts counts the runs matching p's filters (but for Statuses and the
// cursor) by status.
func (s *Store) RunCounts(ctx context.Context, p *store.RunListParams) (map[store.Status]int64, error) {
	f := runFilter(p, false)
	out := map[store.Status]int64{}
	err := s.read(ctx, "run counts", `SELECT status, COUNT(*) FROM runs`+f.sql()+` GROUP BY status`, f.args, func(rows pgx.Rows) error {
		var st string
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return err
		}
		out[store.Status(st)] = n
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func encodeCursor(r *store.Run) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(r.CreatedAt.UnixMicro(), 10) + "|" + r.RunID))
}

func decodeCursor(c string) (time.Time, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		if n, id, ok := strings.Cut(string(b), "|"); ok {
			if v, err := strconv.ParseInt(n, 10, 64); err == nil {
				return time.UnixMicro(v).UTC(), id, nil
			}
		}
	}
	return time.Time{}, "", fmt.Errorf("run list: invalid cursor %q: pass the NextCursor of a previous page, or \"\" for the first page", c)
}

// RunList lists runs newest first.
func (s *Store) RunList(ctx context.Context, p *store.RunListParams) (*store.RunListResult, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	f := runFilter(p, true)
	if p.Cursor != "" {
		at, id, err := decodeCursor(p.Cursor)
		if err != nil {
			return nil, err
		}
		f.add(`(created_at, run_id) < (` + f.arg(at) + `::timestamptz, ` + f.arg(id) + `::text)`)
	}
	q := `SELECT ` + runCols + ` FROM runs` + f.sql() + ` ORDER BY created_at DESC, run_id DESC LIMIT ` + f.arg(limit+1)
	res := &store.RunListResult{}
	err := s.read(ctx, "run list", q, f.args, func(rows pgx.Rows) error {
		r, err := scanRun(rows)
		if err == nil {
			res.Runs = append(res.Runs, r.public())
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(res.Runs) > limit {
		res.Runs = res.Runs[:limit]
		res.NextCursor = encodeCursor(res.Runs[limit-1])
	}
	return res, nil
}

var finishedStatuses = []string{string(store.StatusCompleted), string(store.StatusFailed), string(store.StatusTerminated), string(store.StatusContinuedAsNew)}

const (
	// purgeSelectSQL: finished instances, those that finished first first.
	// The literal status list lets runs_finished serve the query.
	purgeSelectSQL = `SELECT instance_id FROM runs
		WHERE is_current AND status IN ` + finishedList + ` AND status = ANY($1::text[])
			AND ($2::text = '' OR name = $2) AND ($3::timestamptz IS NULL OR completed_at < $3)
		ORDER BY completed_at, instance_id LIMIT $4::bigint FOR UPDATE`
	deleteInstancesSQL = `WITH r AS (DELETE FROM runs WHERE instance_id = ANY($1::text[]) RETURNING run_id),
		h AS (DELETE FROM history WHERE run_id IN (SELECT run_id FROM r)),
		m AS (DELETE FROM messages WHERE run_id IN (SELECT run_id FROM r)),
		t AS (DELETE FROM activity_tasks WHERE run_id IN (SELECT run_id FROM r))
		SELECT COUNT(*) FROM r`
)

// Purge deletes finished instances.
func (s *Store) Purge(ctx context.Context, p *store.PurgeParams) (int, error) {
	n := 0
	err := s.write(ctx, true, func(w *wtx) error {
		n = 0
		var ids []string
		if p.InstanceID != "" {
			var cur *runRow
			w.query(loadCurrentRunSQL, []any{p.InstanceID}, func(rows pgx.Rows) (err error) {
				cur, err = scanRun(rows)
				return err
			})
			if err := w.flush(); err != nil {
				return err
			}
			if cur == nil {
				return fmt.Errorf("purge instance %q: %w", p.InstanceID, store.ErrNotFound)
			}
			if !cur.Status.Finished() {
				return fmt.Errorf("purge instance %q: run %s is %s; terminate it first: %w", p.InstanceID, cur.RunID, cur.Status, store.ErrStillRunning)
			}
			ids = []string{p.InstanceID}
		} else {
			statuses := finishedStatuses
			if len(p.Statuses) > 0 {
				statuses = nil
				for _, st := range p.Statuses {
					if st.Finished() {
						statuses = append(statuses, string(st))
					}
				}
				if len(statuses) == 0 {
					return nil
				}
			}
			var before, limit any
			if !p.FinishedBefore.IsZero() {
				before = utc(p.FinishedBefore)
			}
			if p.Limit > 0 {
				limit = int64(p.Limit)
			}
			w.query(purgeSelectSQL, []any{statuses, p.Name, before, limit}, func(rows pgx.Rows) error {
				var id string
				err := rows.Scan(&id)
				ids = append(ids, id)
				return err
			})
			if err := w.flush(); err != nil {
				return err
			}
		}
		if len(ids) > 0 {
			w.exec(deleteInstancesSQL, ids)
			n = len(ids)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
