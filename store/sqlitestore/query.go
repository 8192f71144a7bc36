package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/perdure/perdure/store"
)

// errEnoughRows, returned by a read's row function, ends the scan without
// an error: the rows after it are not stepped, so their columns (and a
// chunk's overflow pages) are not read.
var errEnoughRows = errors.New("enough rows")

// read runs a prepared query of the read pool and calls fn for each row,
// until fn returns an error (errEnoughRows: stop, no error).
func (s *Store) read(ctx context.Context, q string, args []any, fn func(sc scanner) error) error {
	st, err := s.rquery(ctx, q)
	if err != nil {
		return err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return s.readErr(ctx, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			if err == errEnoughRows {
				return nil
			}
			return s.readErr(ctx, err)
		}
	}
	return s.readErr(ctx, rows.Err())
}

func (s *Store) readErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && !s.closed.Load() {
		return ctx.Err()
	}
	return s.wrapDB("read", err)
}

// RunGet returns a run; runID "" means the current run of instanceID.
func (s *Store) RunGet(ctx context.Context, instanceID, runID string) (*store.Run, error) {
	q, args := `SELECT `+runCols+` FROM runs WHERE instance_id = ? AND is_current = 1`, []any{instanceID}
	if runID != "" {
		q, args = `SELECT `+runCols+` FROM runs WHERE run_id = ?`, []any{runID}
	}
	var r *runRow
	err := s.read(ctx, q, args, func(sc scanner) (err error) {
		r, err = scanRun(sc)
		return err
	})
	if err != nil {
		return nil, err
	}
	if r == nil || (instanceID != "" && r.InstanceID != instanceID) {
		return nil, fmt.Errorf("instance %q run %q: %w", instanceID, runID, store.ErrNotFound)
	}
	return r.public(), nil
}

// runExists reports whether runID exists; it backs ErrNotFound answers.
func (s *Store) runExists(ctx context.Context, runID string) error {
	found := false
	if err := s.read(ctx, `SELECT 1 FROM runs WHERE run_id = ?`, []any{runID}, func(scanner) error { found = true; return nil }); err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("run %s: %w", runID, store.ErrNotFound)
	}
	return nil
}

// HistoryGet returns events of one run with ID > p.AfterID.
func (s *Store) HistoryGet(ctx context.Context, p *store.HistoryGetParams) ([]*store.Event, error) {
	h, err := s.readHistory(ctx, p)
	if err != nil {
		return nil, err
	}
	if len(h.events) == 0 {
		if err := s.runExists(ctx, p.RunID); err != nil {
			return nil, err
		}
	}
	return h.events, nil
}

// readHistory reads the page of history p asks for.
func (s *Store) readHistory(ctx context.Context, p *store.HistoryGetParams) (*historyPage, error) {
	h := &historyPage{runID: p.RunID, after: p.AfterID, limit: p.Limit}
	if h.limit <= 0 {
		h.limit = -1
	}
	// Every row holds at least one event, so limit rows hold enough.
	if err := s.read(ctx, historySQL, []any{p.RunID, p.AfterID, h.limit}, h.row); err != nil {
		return nil, err
	}
	return h, nil
}

const historySQL = `SELECT id, type, time, data, first_id, chunk FROM history WHERE run_id = ? AND id > ? ORDER BY id LIMIT ?`

// historyPage gathers the events of a HistoryGet from the rows of
// historySQL: single events and chunks.
type historyPage struct {
	runID  string
	after  int64
	limit  int // -1: all
	events []*store.Event
	rows   int // rows stepped through
}

// row adds a row's events and, once the page holds limit events, ends the
// scan: without that, a page of a long history would step through every
// later row, and read each one's chunk, to no use.
func (h *historyPage) row(sc scanner) error {
	h.rows++
	var e store.Event
	var t int64
	var first sql.NullInt64
	var chunk []byte // a copy, which the events' Data share
	if err := sc.Scan(&e.ID, &e.Type, &t, &e.Data, &first, &chunk); err != nil {
		return err
	}
	if chunk == nil {
		e.Time = fromMicros(t)
		h.events = append(h.events, &e)
	} else {
		rest := -1
		if h.limit >= 0 {
			rest = h.limit - len(h.events)
		}
		var err error
		if h.events, err = decodeChunk(h.events, chunk, first.Int64, h.after, rest); err != nil {
			return fmt.Errorf("run %s, events %d-%d: %w", h.runID, first.Int64, e.ID, err)
		}
	}
	if h.limit >= 0 && len(h.events) >= h.limit {
		return errEnoughRows
	}
	return nil
}

// MessageList returns the inbox of a run in ID order.
func (s *Store) MessageList(ctx context.Context, runID string) ([]*store.Message, error) {
	var ms []*store.Message
	err := s.read(ctx, `SELECT `+msgCols+` FROM messages WHERE run_id = ? ORDER BY id`, []any{runID}, func(sc scanner) error {
		m, err := scanMsg(sc)
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
	err := s.read(ctx, `SELECT `+taskCols+` FROM activity_tasks WHERE run_id = ? ORDER BY seq`, []any{runID}, func(sc scanner) error {
		t, err := scanTask(sc)
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
	err := s.read(ctx, `SELECT `+taskCols+` FROM activity_tasks WHERE run_id = ? AND seq = ?`, []any{runID, seq}, func(sc scanner) (err error) {
		t, err = scanTask(sc)
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

const (
	nextRunSQL  = `SELECT MIN(ready_at) FROM runs WHERE ready_at > ?`
	nextTaskSQL = `SELECT MIN(due_at) FROM activity_tasks WHERE due_at > ?`
)

// runFilter turns the filters of p into WHERE conditions; withStatus says
// whether p.Statuses is one of them.
func runFilter(p *store.RunListParams, withStatus bool) ([]string, []any) {
	var where []string
	var args []any
	add := func(cond string, a ...any) { where = append(where, cond); args = append(args, a...) }
	if !p.AllRuns {
		add(`is_current = 1`)
	}
	if p.Name != "" {
		add(`name = ?`, p.Name)
	}
	if withStatus && len(p.Statuses) > 0 {
		ph := strings.TrimSuffix(strings.Repeat("?, ", len(p.Statuses)), ", ")
		var a []any
		for _, st := range p.Statuses {
			a = append(a, string(st))
		}
		add(`status IN (`+ph+`)`, a...)
	}
	if prefix, ok := strings.CutSuffix(p.InstanceID, "*"); ok {
		if prefix != "" {
			add(`instance_id >= ?`, prefix)
			if end := prefixEnd(prefix); end != "" {
				add(`instance_id < ?`, end)
			}
		}
	} else if p.InstanceID != "" {
		add(`instance_id = ?`, p.InstanceID)
	}
	if !p.CreatedAfter.IsZero() {
		add(`created_at >= ?`, micros(p.CreatedAfter))
	}
	if !p.CreatedBefore.IsZero() {
		add(`created_at < ?`, micros(p.CreatedBefore))
	}
	return where, args
}

// RunCounts counts the runs matching p's filters (but for Statuses and the
// cursor) by status.
func (s *Store) RunCounts(ctx context.Context, p *store.RunListParams) (map[store.Status]int64, error) {
	where, args := runFilter(p, false)
	q := `SELECT status, COUNT(*) FROM runs`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` GROUP BY status`
	out := map[store.Status]int64{}
	err := s.read(ctx, q, args, func(sc scanner) error {
		var st string
		var n int64
		if err := sc.Scan(&st, &n); err != nil {
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

// NextWakeup returns the earliest due time after the current time.
func (s *Store) NextWakeup(ctx context.Context, after time.Time) (time.Time, bool, error) {
	now := micros(after)
	var best sql.NullInt64
	for _, q := range []string{nextRunSQL, nextTaskSQL} {
		var v sql.NullInt64
		if err := s.read(ctx, q, []any{now}, func(sc scanner) error { return sc.Scan(&v) }); err != nil {
			return time.Time{}, false, err
		}
		if v.Valid && (!best.Valid || v.Int64 < best.Int64) {
			best = v
		}
	}
	if !best.Valid {
		return time.Time{}, false, nil
	}
	return fromMicros(best.Int64), true, nil
}

func encodeCursor(r *store.Run) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(micros(r.CreatedAt), 10) + "|" + r.RunID))
}

func decodeCursor(c string) (int64, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		if n, id, ok := strings.Cut(string(b), "|"); ok {
			if v, err := strconv.ParseInt(n, 10, 64); err == nil {
				return v, id, nil
			}
		}
	}
	return 0, "", fmt.Errorf("run list: invalid cursor %q: pass the NextCursor of a previous page, or \"\" for the first page", c)
}

// prefixEnd returns the smallest string greater than every string that
// starts with p, or "" when there is none.
func prefixEnd(p string) string {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return ""
}

// RunList lists runs newest first.
func (s *Store) RunList(ctx context.Context, p *store.RunListParams) (*store.RunListResult, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	where, args := runFilter(p, true)
	add := func(cond string, a ...any) { where = append(where, cond); args = append(args, a...) }
	if p.Cursor != "" {
		at, id, err := decodeCursor(p.Cursor)
		if err != nil {
			return nil, err
		}
		add(`(created_at < ? OR (created_at = ? AND run_id < ?))`, at, at, id)
	}
	q := `SELECT ` + runCols + ` FROM runs`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY created_at DESC, run_id DESC LIMIT ?`
	args = append(args, limit+1)
	res := &store.RunListResult{}
	err := s.read(ctx, q, args, func(sc scanner) error {
		r, err := scanRun(sc)
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

var finishedStatuses = []store.Status{store.StatusCompleted, store.StatusFailed, store.StatusTerminated, store.StatusContinuedAsNew}

// finishedCond is the condition of the partial index runs_finished
// (migration 5), which a query must repeat to use it.
const finishedCond = `is_current = 1 AND (status = 'COMPLETED' OR status = 'FAILED' OR status = 'TERMINATED' OR status = 'CONTINUED_AS_NEW')`

// Purge deletes finished instances.
func (s *Store) Purge(ctx context.Context, p *store.PurgeParams) (int, error) {
	n := 0
	err := s.write(ctx, func(w *wtx) error {
		n = 0
		if p.InstanceID != "" {
			cur, err := w.loadCurrent(p.InstanceID)
			if err != nil {
				return err
			}
			if cur == nil {
				return fmt.Errorf("purge instance %q: %w", p.InstanceID, store.ErrNotFound)
			}
			if !cur.Status.Finished() {
				return fmt.Errorf("purge instance %q: run %s is %s; terminate it first: %w", p.InstanceID, cur.RunID, cur.Status, store.ErrStillRunning)
			}
			n = 1
			return w.deleteInstance(p.InstanceID)
		}
		statuses := finishedStatuses
		if len(p.Statuses) > 0 {
			statuses = nil
			for _, st := range p.Statuses {
				if st.Finished() {
					statuses = append(statuses, st)
				}
			}
			if len(statuses) == 0 {
				return nil
			}
		}
		ph := strings.TrimSuffix(strings.Repeat("?, ", len(statuses)), ", ")
		// The index's condition is repeated so that runs_finished applies;
		// the index is named so that the planner does not prefer
		// runs_status_created and sort.
		q := `SELECT instance_id FROM runs INDEXED BY runs_finished WHERE ` + finishedCond + ` AND status IN (` + ph + `)`
		var args []any
		for _, st := range statuses {
			args = append(args, string(st))
		}
		if p.Name != "" {
			q += ` AND name = ?`
			args = append(args, p.Name)
		}
		if !p.FinishedBefore.IsZero() {
			q += ` AND completed_at < ?`
			args = append(args, micros(p.FinishedBefore))
		}
		q += ` ORDER BY completed_at, instance_id LIMIT ?`
		limit := int64(p.Limit)
		if limit <= 0 {
			limit = -1
		}
		args = append(args, limit)
		rows, err := w.s.wconn.QueryContext(w.ctx, q, args...)
		if err != nil {
			return w.s.wrapDB("purge", err)
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return w.s.wrapDB("purge", err)
			}
			ids = append(ids, id)
		}
		if err := rows.Close(); err != nil {
			return w.s.wrapDB("purge", err)
		}
		for _, id := range ids {
			if err := w.deleteInstance(id); err != nil {
				return err
			}
		}
		n = len(ids)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// deleteInstance deletes every run of an instance with its history,
// messages and activity tasks.
func (w *wtx) deleteInstance(instanceID string) error {
	for _, q := range []string{
		`DELETE FROM history WHERE run_id IN (SELECT run_id FROM runs WHERE instance_id = ?)`,
		`DELETE FROM messages WHERE run_id IN (SELECT run_id FROM runs WHERE instance_id = ?)`,
		`DELETE FROM activity_tasks WHERE run_id IN (SELECT run_id FROM runs WHERE instance_id = ?)`,
		`DELETE FROM runs WHERE instance_id = ?`,
	} {
		if _, err := w.exec(q, instanceID); err != nil {
			return err
		}
	}
	return nil
}

const (
	countReadyRunsSQL  = `SELECT COUNT(*) FROM runs WHERE ready_at IS NOT NULL AND ready_at <= ?`
	countReadyTasksSQL = `SELECT COUNT(*) FROM activity_tasks WHERE due_at IS NOT NULL AND due_at <= ? AND state = 'READY'`
)

// QueueDepth counts the runs with a claimable workflow task and the READY
// activity tasks that are visible at now (for the queue depth metric).
func (s *Store) QueueDepth(ctx context.Context, now time.Time) (workflowTasks, activityTasks int64, err error) {
	at := micros(now.UTC())
	if err := s.read(ctx, countReadyRunsSQL, []any{at}, func(sc scanner) error { return sc.Scan(&workflowTasks) }); err != nil {
		return 0, 0, err
	}
	if err := s.read(ctx, countReadyTasksSQL, []any{at}, func(sc scanner) error { return sc.Scan(&activityTasks) }); err != nil {
		return 0, 0, err
	}
	return workflowTasks, activityTasks, nil
}
