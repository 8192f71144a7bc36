package sqlitestore

import (
	"database/sql"
	"strings"
	"time"

	"github.com/perdure/perdure/store"
)

// runRow is a run with the columns the contract does not show.
type runRow struct {
	store.Run
	leaseOwner string
	leaseUntil time.Time
	readyAt    sql.NullInt64
}

const runCols = `run_id, instance_id, name, status, is_current, input, output, failure, custom_status,
	parent_instance_id, parent_run_id, parent_seq, previous_run_id, task_queue,
	created_at, updated_at, completed_at, history_len, task_error, lease_owner, lease_until, ready_at, waiting`

// returningRunCols is runCols qualified by the table, for the RETURNING
// clause of an UPDATE … FROM.
var returningRunCols = func() string {
	cols := strings.Split(runCols, ",")
	for i, c := range cols {
		cols[i] = "runs." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}()

func scanRun(sc scanner) (*runRow, error) {
	var r runRow
	var status string
	var current int
	var created, updated, completed, leaseUntil int64
	err := sc.Scan(&r.RunID, &r.InstanceID, &r.Name, &status, &current, &r.Input, &r.Output, &r.Failure, &r.CustomStatus,
		&r.ParentInstanceID, &r.ParentRunID, &r.ParentSeq, &r.PreviousRunID, &r.TaskQueue,
		&created, &updated, &completed, &r.HistoryLen, &r.TaskError, &r.leaseOwner, &leaseUntil, &r.readyAt, &r.Waiting)
	if err != nil {
		return nil, err
	}
	r.Status = store.Status(status)
	r.Current = current != 0
	r.CreatedAt, r.UpdatedAt, r.CompletedAt = fromMicros(created), fromMicros(updated), fromMicros(completed)
	r.leaseUntil = fromMicros(leaseUntil)
	return &r, nil
}

func (r *runRow) public() *store.Run {
	c := r.Run
	return &c
}

// loadRun reads a run by id; nil when it does not exist.
func (w *wtx) loadRun(runID string) (*runRow, error) {
	var r *runRow
	_, err := w.one(`SELECT `+runCols+` FROM runs WHERE run_id = ?`, []any{runID}, func(sc scanner) (err error) {
		r, err = scanRun(sc)
		return err
	})
	return r, err
}

// loadCurrent reads the current run of an instance; nil when none.
func (w *wtx) loadCurrent(instanceID string) (*runRow, error) {
	var r *runRow
	_, err := w.one(`SELECT `+runCols+` FROM runs WHERE instance_id = ? AND is_current = 1`, []any{instanceID}, func(sc scanner) (err error) {
		r, err = scanRun(sc)
		return err
	})
	return r, err
}

const taskCols = `run_id, seq, instance_id, name, task_queue, input, options, state, attempt,
	scheduled_at, visible_at, started_at, lease_owner, lease_until, deadline,
	heartbeat_details, last_failure, attempts`

func scanTask(sc scanner) (*store.ActivityTask, error) {
	var t store.ActivityTask
	var state string
	var scheduled, visible, started, leaseUntil, deadline int64
	err := sc.Scan(&t.RunID, &t.Seq, &t.InstanceID, &t.Name, &t.TaskQueue, &t.Input, &t.Options, &state, &t.Attempt,
		&scheduled, &visible, &started, &t.LeaseOwner, &leaseUntil, &deadline,
		&t.HeartbeatDetails, &t.LastFailure, &t.Attempts)
	if err != nil {
		return nil, err
	}
	t.State = store.ActivityState(state)
	t.ScheduledAt, t.VisibleAt, t.StartedAt = fromMicros(scheduled), fromMicros(visible), fromMicros(started)
	t.LeaseUntil, t.Deadline = fromMicros(leaseUntil), fromMicros(deadline)
	return &t, nil
}

// dueAt is when an activity task needs a claimer: READY at VisibleAt;
// RUNNING when its lease or deadline passes; PENDING at its deadline.
func dueAt(t *store.ActivityTask) sql.NullInt64 {
	switch t.State {
	case store.ActivityReady:
		return sql.NullInt64{Int64: micros(t.VisibleAt), Valid: true}
	case store.ActivityRunning:
		if !t.Deadline.IsZero() && t.Deadline.Before(t.LeaseUntil) {
			return sql.NullInt64{Int64: micros(t.Deadline), Valid: true}
		}
		return sql.NullInt64{Int64: micros(t.LeaseUntil), Valid: true}
	case store.ActivityPending:
		if !t.Deadline.IsZero() {
			return sql.NullInt64{Int64: micros(t.Deadline), Valid: true}
		}
	}
	return sql.NullInt64{}
}

func (w *wtx) loadTask(runID string, seq int64) (*store.ActivityTask, error) {
	var t *store.ActivityTask
	_, err := w.one(`SELECT `+taskCols+` FROM activity_tasks WHERE run_id = ? AND seq = ?`, []any{runID, seq}, func(sc scanner) (err error) {
		t, err = scanTask(sc)
		return err
	})
	return t, err
}

const insertTaskSQL = `INSERT INTO activity_tasks (` + taskCols + `, due_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// taskArgs are the values of insertTaskSQL.
func taskArgs(t *store.ActivityTask) []any {
	return []any{t.RunID, t.Seq, t.InstanceID, t.Name, t.TaskQueue, blob(t.Input), blob(t.Options), string(t.State), t.Attempt,
		micros(t.ScheduledAt), micros(t.VisibleAt), micros(t.StartedAt), t.LeaseOwner, micros(t.LeaseUntil), micros(t.Deadline),
		blob(t.HeartbeatDetails), blob(t.LastFailure), blob(t.Attempts), dueAt(t)}
}

// saveTask writes the mutable columns of t.
func (w *wtx) saveTask(t *store.ActivityTask) error {
	_, err := w.exec(`UPDATE activity_tasks SET state = ?, attempt = ?, visible_at = ?, started_at = ?,
		lease_owner = ?, lease_until = ?, deadline = ?, heartbeat_details = ?, last_failure = ?, attempts = ?, due_at = ?
		WHERE run_id = ? AND seq = ?`,
		string(t.State), t.Attempt, micros(t.VisibleAt), micros(t.StartedAt),
		t.LeaseOwner, micros(t.LeaseUntil), micros(t.Deadline), blob(t.HeartbeatDetails), blob(t.LastFailure), blob(t.Attempts), dueAt(t),
		t.RunID, t.Seq)
	return err
}

const msgCols = `id, run_id, type, visible_at, control, data`

func scanMsg(sc scanner) (*store.Message, error) {
	var m store.Message
	var visible int64
	var control int
	if err := sc.Scan(&m.ID, &m.RunID, &m.Type, &visible, &control, &m.Data); err != nil {
		return nil, err
	}
	m.VisibleAt = fromMicros(visible)
	m.Control = control != 0
	return &m, nil
}
