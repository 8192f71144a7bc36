package sqlitestore

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/perdure/perdure/store"
)

func (w *wtx) createRun(op *store.RunCreateOp) error {
	in := &op.Run
	if in.InstanceID == "" || in.RunID == "" || in.Name == "" {
		return errors.New("sqlitestore: start: instance id, run id and workflow name are required")
	}
	r := newRunRow(in)
	// The start message is the run's only one: ready_at is its time, or
	// the eager lease's end when the run is leased at once. A fused first
	// task takes the start straight to history.
	visible := micros(op.Start.VisibleAt)
	fused := fusedStart(op)
	r.readyAt = sql.NullInt64{Int64: visible, Valid: !fused}
	e := op.Eager
	eager := !fused && leasable(r, e, nil)
	if eager {
		r.leaseOwner, r.leaseUntil = e.Owner, e.LeaseUntil.UTC()
		r.readyAt.Int64 = max(visible, micros(r.leaseUntil))
	}
	// The row goes in at once when the instance has no current run (the
	// unique index runs_current) and the run id is new, with the outcome
	// of a fused first task when there is one; otherwise the instance's
	// current run decides.
	if fused {
		fr := *r
		op.Then.Consumed = nil
		switch err := w.commitRunAs(&fr, op.Then, true); {
		case err == nil:
			op.Start.RunID = r.RunID
			op.Result, op.Created = r.public(), true
			op.ThenApplied = true
			w.keepRun(&fr, op.Then, 0)
			return nil
		case !errors.Is(err, errNotFresh):
			return err
		}
	}
	first, err := w.insertRun(r, "")
	if err != nil {
		return err
	}
	if !first {
		cur, err := w.loadCurrent(in.InstanceID)
		if err != nil {
			return err
		}
		if cur != nil && !cur.Status.Finished() {
			if !op.FailIfExists && cur.Name == in.Name && bytes.Equal(cur.Input, in.Input) {
				op.Result, op.Created = cur.public(), false
				return nil
			}
			return fmt.Errorf("start instance %q: run %s is %s: %w", in.InstanceID, cur.RunID, cur.Status, store.ErrConflict)
		}
		if cur != nil {
			if _, err := w.exec(`UPDATE runs SET is_current = 0 WHERE run_id = ?`, cur.RunID); err != nil {
				return err
			}
		}
		if inserted, err := w.insertRun(r, "(run_id)"); err != nil {
			return err
		} else if !inserted {
			return fmt.Errorf("start instance %q: run id %s is already used: %w", in.InstanceID, in.RunID, store.ErrConflict)
		}
	}
	op.Start.RunID = r.RunID
	op.Result, op.Created = r.public(), true
	if fused {
		// The instance's previous run changed too (or the task fails its
		// checks): the run cache starts over.
		if err := w.commitRun(r, op.Then); err != nil {
			return err
		}
		op.ThenApplied = true
		return nil
	}
	id, err := w.insertMessage(r.RunID, &op.Start)
	if err != nil {
		return err
	}
	if eager {
		m := op.Start
		m.ID, m.VisibleAt = id, fromMicros(visible)
		op.Claimed = &store.WorkflowTask{Run: r.public(), Messages: []*store.Message{&m}, LeaseOwner: r.leaseOwner, LeaseUntil: r.leaseUntil}
	}
	return nil
}

// newRunRow is the row of the run that in starts: PENDING, current,
// with nothing of a run that has run, its times in UTC.
func newRunRow(in *store.Run) *runRow {
	r := &runRow{Run: *in}
	r.Status, r.Current = store.StatusPending, true
	r.Output, r.Failure, r.CustomStatus = nil, nil, nil
	r.CompletedAt, r.HistoryLen, r.TaskError, r.Waiting = time.Time{}, 0, "", nil
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return r
}

// fusedStart reports whether op's first workflow task runs in the
// start's own commit: the start message goes straight to history.
func fusedStart(op *store.RunCreateOp) bool {
	return op.Then != nil && op.Then.RunID == op.Run.RunID && op.Then.HistoryLen == 0 &&
		micros(op.Start.VisibleAt) <= micros(op.Then.UpdatedAt)
}

// insertRun inserts r's row (a new, current run), unless that breaks a
// uniqueness constraint: conflict is the ON CONFLICT target, "" for any.
func (w *wtx) insertRun(r *runRow, conflict string) (bool, error) {
	res, err := w.exec(`INSERT INTO runs (`+runCols+`) VALUES `+newRunRowSQL+` ON CONFLICT `+conflict+` DO NOTHING`,
		newRunArgs(r)...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, w.s.wrapDB("insert run", err)
	}
	return n == 1, nil
}

// newRunRowSQL is the VALUES row of a new run: newRunArgs(r) but
// is_current, which is 1.
const newRunRowSQL = `(?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// newRunArgs are the values of newRunRowSQL for r.
func newRunArgs(r *runRow) []any {
	return []any{r.RunID, r.InstanceID, r.Name, string(r.Status), blob(r.Input), blob(r.Output), blob(r.Failure), blob(r.CustomStatus),
		r.ParentInstanceID, r.ParentRunID, r.ParentSeq, r.PreviousRunID, r.TaskQueue,
		micros(r.CreatedAt), micros(r.UpdatedAt), micros(r.CompletedAt), r.HistoryLen, r.TaskError,
		r.leaseOwner, micros(r.leaseUntil), r.readyAt, blob(r.Waiting)}
}

// insertMessage inserts a copy of m into the inbox of run runID and
// returns its id; the caller keeps ready_at up to date.
func (w *wtx) insertMessage(runID string, m *store.Message) (int64, error) {
	res, err := w.exec(`INSERT INTO messages (run_id, type, visible_at, control, data) VALUES (?, ?, ?, ?, ?)`,
		runID, m.Type, micros(m.VisibleAt), boolInt(m.Control), blob(m.Data))
	if err != nil {
		return 0, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, w.s.wrapDB("message id", err)
	}
	return id, nil
}

// addMessage inserts a copy of m into r's inbox and keeps r.readyAt (in
// the row and in r) up to date. It returns the new message id.
func (w *wtx) addMessage(r *runRow, m *store.Message) (int64, error) {
	id, err := w.insertMessage(r.RunID, m)
	if err != nil {
		return 0, err
	}
	if r.Status == store.StatusSuspended && !m.Control {
		return id, nil // it cannot wake the run
	}
	// ready_at = max(earliest wake-up message, lease_until); the new
	// message can only make the earliest one earlier.
	v := micros(m.VisibleAt)
	if r.readyAt.Valid && r.readyAt.Int64 < v {
		v = r.readyAt.Int64
	}
	v = max(v, micros(r.leaseUntil))
	if !r.readyAt.Valid || r.readyAt.Int64 != v {
		r.readyAt = sql.NullInt64{Int64: v, Valid: true}
		if _, err := w.exec(`UPDATE runs SET ready_at = ? WHERE run_id = ?`, v, r.RunID); err != nil {
			return 0, err
		}
	}
	return id, nil
}

// refreshReady recomputes ready_at of r from its inbox, status and lease.
func (w *wtx) refreshReady(r *runRow) error {
	_, err := w.one(`UPDATE runs SET ready_at = max(?3, (SELECT MIN(visible_at) FROM messages
			WHERE run_id = ?1 AND (control = 1 OR ?2 = 0)))
		WHERE run_id = ?1 RETURNING ready_at`,
		[]any{r.RunID, boolInt(r.Status == store.StatusSuspended), micros(r.leaseUntil)},
		func(sc scanner) error { return sc.Scan(&r.readyAt) })
	return err
}

// insertEvents appends events to the history of run runID: as one chunk
// row when they are several and follow one another (a commit's events
// always do), else as one row per event, up to maxRowsPerInsert rows per
// statement.
func (w *wtx) insertEvents(runID string, events []*store.Event) error {
	if len(events) > 1 && consecutive(events) {
		last := events[len(events)-1]
		_, err := w.exec(`INSERT INTO history (run_id, id, type, time, data, first_id, chunk) VALUES (?, ?, '', 0, NULL, ?, ?)`,
			runID, last.ID, events[0].ID, encodeChunk(events))
		return err
	}
	for len(events) > 0 {
		n := min(len(events), maxRowsPerInsert)
		args := make([]any, 0, 5*n)
		for _, e := range events[:n] {
			args = append(args, runID, e.ID, e.Type, micros(e.Time), blob(e.Data))
		}
		if _, err := w.exec(insertEventsSQL[n], args...); err != nil {
			return err
		}
		events = events[n:]
	}
	return nil
}

const maxRowsPerInsert = 32

// insertEventsSQL[n] inserts n history rows.
var insertEventsSQL = func() []string {
	out := make([]string, maxRowsPerInsert+1)
	for n := 1; n <= maxRowsPerInsert; n++ {
		out[n] = `INSERT INTO history (run_id, id, type, time, data) VALUES (?, ?, ?, ?, ?)` +
			strings.Repeat(`, (?, ?, ?, ?, ?)`, n-1)
	}
	return out
}()

// target finds the run a message is sent to; nil when there is none.
func (w *wtx) target(instanceID, runID string) (*runRow, error) {
	if runID == "" {
		return w.loadCurrent(instanceID)
	}
	r, err := w.loadRun(runID)
	if err != nil || r == nil || (instanceID != "" && r.InstanceID != instanceID) {
		return nil, err
	}
	return r, nil
}

// send delivers op's message. finishing is the id of the run that the
// enclosing commit finishes (messages to it are dropped), or "".
func (w *wtx) send(op *store.MessageSendOp, finishing string) error {
	op.ResultRunID = ""
	r, err := w.target(op.InstanceID, op.RunID)
	if err != nil {
		return err
	}
	if r == nil {
		if op.IgnoreFinished {
			return nil
		}
		return fmt.Errorf("send %s to instance %q run %q: %w", op.Message.Type, op.InstanceID, op.RunID, store.ErrNotFound)
	}
	if r.RunID == finishing {
		return nil
	}
	if r.Status.Finished() {
		if op.IgnoreFinished {
			return nil
		}
		return fmt.Errorf("send %s to instance %q run %s (%s): %w", op.Message.Type, r.InstanceID, r.RunID, r.Status, store.ErrNotRunning)
	}
	if _, err := w.addMessage(r, &op.Message); err != nil {
		return err
	}
	op.ResultRunID = r.RunID
	return nil
}

// leasedRun loads a run and checks that owner holds its lease.
func (w *wtx) leasedRun(runID, owner string) (*runRow, error) {
	r, err := w.loadRun(runID)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("run %s: %w", runID, store.ErrNotFound)
	}
	if r.leaseOwner == "" || r.leaseOwner != owner {
		return nil, fmt.Errorf("run %s is not leased by %q: %w", runID, owner, store.ErrLeaseLost)
	}
	return r, nil
}

func (w *wtx) commit(op *store.WorkflowTaskCommitOp) error {
	r, err := w.leasedRun(op.RunID, op.LeaseOwner)
	if err != nil {
		return err
	}
	return w.commitRun(r, op)
}

// fusable reports whether the workflow task then may be committed on r
// with a message visible at visible that is not in r's inbox: a claim at
// then.UpdatedAt would have handed out exactly that task.
func fusable(r *runRow, then *store.WorkflowTaskCommitOp, visible time.Time) bool {
	now := micros(then.UpdatedAt)
	return then.RunID == r.RunID && then.HistoryLen == r.HistoryLen && !r.Status.Finished() &&
		r.Status != store.StatusSuspended && micros(r.leaseUntil) <= now &&
		(!r.readyAt.Valid || r.readyAt.Int64 > now) && micros(visible) <= now
}

// checkTask checks a workflow task's outcome against r, before anything
// is written.
func checkTask(r *runRow, op *store.WorkflowTaskCommitOp) error {
	if op.InstanceID != "" && r.InstanceID != op.InstanceID {
		return fmt.Errorf("run %s of instance %q: %w", op.RunID, op.InstanceID, store.ErrNotFound)
	}
	if op.HistoryLen != r.HistoryLen {
		return fmt.Errorf("run %s: task started from history length %d, stored history has %d events: %w", op.RunID, op.HistoryLen, r.HistoryLen, store.ErrLeaseLost)
	}
	for i, e := range op.NewEvents {
		if want := op.HistoryLen + int64(i) + 1; e == nil || e.ID != want {
			return fmt.Errorf("run %s: new event %d is not numbered %d: %w", op.RunID, i, want, store.ErrLeaseLost)
		}
	}
	if op.Status != "" && !op.Status.Valid() {
		return fmt.Errorf("run %s: invalid status %q", op.RunID, op.Status)
	}
	if op.CarryOverEvents != "" && op.Status != store.StatusContinuedAsNew {
		return fmt.Errorf("run %s: CarryOverEvents needs status %s", op.RunID, store.StatusContinuedAsNew)
	}
	return nil
}

// commitRun applies a workflow task's outcome to r, whose lease the caller
// checked.
func (w *wtx) commitRun(r *runRow, op *store.WorkflowTaskCommitOp) error {
	return w.commitRunAs(r, op, false)
}

// errNotFresh: commitRunAs could not insert a new run with the outcome of
// its first task, because a check failed or the row breaks a uniqueness
// constraint; it wrote nothing.
var errNotFresh = errors.New("sqlitestore: the run cannot be inserted with its first task")

// commitRunAs is commitRun; with fresh, r is a new run not yet in the
// database, whose row goes in once with the task's outcome (errNotFresh
// when it cannot) instead of being inserted, then updated.
func (w *wtx) commitRunAs(r *runRow, op *store.WorkflowTaskCommitOp, fresh bool) (err error) {
	if fresh {
		if checkTask(r, op) != nil {
			return errNotFresh
		}
	} else if err := checkTask(r, op); err != nil {
		return err
	}
	leased := micros(r.leaseUntil) > micros(time.Time{})
	if !fresh {
		if err := w.insertEvents(r.RunID, op.NewEvents); err != nil {
			return err
		}
		for _, id := range op.Consumed {
			if _, err := w.exec(`DELETE FROM messages WHERE id = ? AND run_id = ?`, id, r.RunID); err != nil {
				return err
			}
		}
	}
	// Only the columns that change are set, so that the indexes on the
	// others (status, completed_at) are not rewritten by every task: the
	// statement for each set of columns is built once (updateRunSQL).
	mask := r.afterTask(op)
	finished := r.Status.Finished()
	// The new status goes in first: a continue-as-new run in NewRuns must
	// see this run finished.
	if fresh {
		// A new run has no inbox and no lease: nothing wakes it.
		r.readyAt = sql.NullInt64{}
		if inserted, err := w.insertRun(r, ""); err != nil {
			return err
		} else if !inserted {
			return errNotFresh
		}
		if err := w.insertEvents(r.RunID, op.NewEvents); err != nil {
			return err
		}
	} else if !finished && (leased || len(op.Consumed) > 0 || r.Status == store.StatusSuspended) {
		// ready_at from what is left in the inbox; the messages sent below
		// keep it up to date.
		args := append(updateRunArgs(r, mask), boolInt(r.Status == store.StatusSuspended))
		if _, err := w.one(updateRunSQL[mask|setReady], args,
			func(sc scanner) error { return sc.Scan(&r.readyAt) }); err != nil {
			return err
		}
	} else {
		// A finished run's inbox is emptied below and nothing wakes it:
		// its UPDATE (setCompleted) clears ready_at. A fused task on a
		// run without lease that consumes nothing and stays unsuspended
		// leaves ready_at as it was: its inbox and its (expired or
		// absent) lease do not change what can wake it.
		if finished {
			r.readyAt = sql.NullInt64{}
		}
		if _, err := w.exec(updateRunSQL[mask], updateRunArgs(r, mask)...); err != nil {
			return err
		}
	}

	for _, seq := range op.CancelActivities {
		if _, err := w.exec(`DELETE FROM activity_tasks WHERE run_id = ? AND seq = ?`, r.RunID, seq); err != nil {
			return err
		}
	}
	if !finished {
		for _, a := range op.NewActivities {
			if err := w.newActivity(r, a); err != nil {
				return err
			}
		}
	}
	var conflicts []*store.MessageSendOp
	for _, c := range op.NewRuns {
		c.Err, c.Result, c.Created = nil, nil, false
		if _, err := w.exec("SAVEPOINT child"); err != nil {
			return err
		}
		err := w.createRun(c)
		var de *dbErr
		if err != nil && !errors.As(err, &de) {
			if _, rerr := w.exec("ROLLBACK TO child"); rerr != nil {
				return rerr
			}
		}
		if _, rerr := w.exec("RELEASE child"); rerr != nil {
			return rerr
		}
		if errors.Is(err, store.ErrConflict) && !errors.As(err, &de) {
			c.Err = err
			if c.OnConflict != nil {
				conflicts = append(conflicts, &store.MessageSendOp{InstanceID: r.InstanceID, RunID: r.RunID,
					Message: *c.OnConflict, IgnoreFinished: true})
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("run %s: new run: %w", op.RunID, err)
		}
	}
	finishing := ""
	if finished {
		finishing = r.RunID
	}
	for _, m := range append(op.Messages, conflicts...) {
		if err := w.send(m, finishing); err != nil {
			return fmt.Errorf("run %s: %w", op.RunID, err)
		}
	}
	if !finished {
		op.Claimed, err = w.eager(r, op.Eager)
		return err
	}
	if op.CarryOverEvents != "" {
		next, err := w.loadRun(op.CarryOverEvents)
		if err != nil {
			return err
		}
		if next == nil || next.RunID == r.RunID {
			return fmt.Errorf("run %s: carry over events to run %s: %w", op.RunID, op.CarryOverEvents, store.ErrNotFound)
		}
		if err := w.carryOver(r.RunID, next); err != nil {
			return err
		}
	}
	if _, err := w.exec(`DELETE FROM messages WHERE run_id = ?`, r.RunID); err != nil {
		return err
	}
	if _, err := w.exec(`DELETE FROM activity_tasks WHERE run_id = ?`, r.RunID); err != nil {
		return err
	}
	op.Finished = r.public()
	return nil
}

// afterTask makes r the row a workflow task's outcome op leaves (but its
// ready_at, which depends on the inbox) and returns the columns that
// changed beyond those every outcome sets, as bits of updateRunSQL's
// index.
func (r *runRow) afterTask(op *store.WorkflowTaskCommitOp) (mask int) {
	r.UpdatedAt = op.UpdatedAt.UTC()
	r.HistoryLen += int64(len(op.NewEvents))
	r.TaskError = ""
	r.leaseOwner, r.leaseUntil = "", time.Time{}
	if op.Status != "" && op.Status != r.Status {
		r.Status = op.Status
		mask |= setStatus
	}
	if op.Output != nil {
		r.Output = op.Output
		mask |= setOutput
	}
	if op.Failure != nil {
		r.Failure = op.Failure
		mask |= setFailure
	}
	if op.CustomStatus != nil || op.SetCustom {
		r.CustomStatus = op.CustomStatus
		mask |= setCustom
	}
	r.Waiting = op.Waiting
	if r.Status.Finished() {
		r.CompletedAt = r.UpdatedAt
		r.Waiting = nil
		mask |= setCompleted
	}
	return mask
}

// The columns of a workflow task's commit that are not always set, as
// bits of updateRunSQL's index.
const (
	setStatus = 1 << iota
	setOutput
	setFailure
	setCustom
	setCompleted // and ready_at = NULL
	setReady     // ready_at from the inbox, returned
	setAll       = setReady<<1 - 1
)

// updateRunSQL is, by set of columns, the UPDATE of a run that commitRun
// makes. Parameters are numbered: ?1 is the run id, then updated_at,
// history_len, lease_until, the optional columns in the order of their
// bits, waiting, and with setReady whether the run is suspended.
var updateRunSQL = func() (q [setAll + 1]string) {
	for mask := range q {
		sets := []string{"updated_at = ?2", "history_len = ?3", "task_error = ''", "lease_owner = ''", "lease_until = ?4"}
		n := 4
		for i, col := range []string{"status", "output", "failure", "custom_status", "completed_at"} {
			if mask&(1<<i) != 0 {
				n++
				sets = append(sets, fmt.Sprintf("%s = ?%d", col, n))
			}
		}
		n++
		sets = append(sets, fmt.Sprintf("waiting = ?%d", n))
		if mask&setCompleted != 0 {
			sets = append(sets, "ready_at = NULL")
		}
		q[mask] = `UPDATE runs SET ` + strings.Join(sets, ", ") + ` WHERE run_id = ?1`
		if mask&setReady != 0 {
			n++
			q[mask] = fmt.Sprintf(`UPDATE runs SET %s, ready_at = (SELECT MIN(visible_at) FROM messages WHERE run_id = ?1 AND (control = 1 OR ?%d = 0))
				WHERE run_id = ?1 RETURNING ready_at`, strings.Join(sets, ", "), n)
		}
	}
	return q
}()

// updateRunArgs are the parameters of updateRunSQL[mask] for r's new
// values, but the last one of setReady.
func updateRunArgs(r *runRow, mask int) []any {
	args := make([]any, 0, 11)
	args = append(args, r.RunID, micros(r.UpdatedAt), r.HistoryLen, micros(r.leaseUntil))
	if mask&setStatus != 0 {
		args = append(args, string(r.Status))
	}
	if mask&setOutput != 0 {
		args = append(args, blob(r.Output))
	}
	if mask&setFailure != 0 {
		args = append(args, blob(r.Failure))
	}
	if mask&setCustom != 0 {
		args = append(args, blob(r.CustomStatus))
	}
	if mask&setCompleted != 0 {
		args = append(args, micros(r.CompletedAt))
	}
	return append(args, blob(r.Waiting))
}

// carryOver copies the EventRaised messages of run from into next, in
// order, with new ids.
func (w *wtx) carryOver(from string, next *runRow) error {
	msgs, err := collect(w, "carry over", scanMsg,
		`SELECT `+msgCols+` FROM messages WHERE run_id = ? AND type = ? ORDER BY id`, from, store.MessageTypeEventRaised)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if _, err := w.addMessage(next, m); err != nil {
			return err
		}
	}
	return nil
}

func (w *wtx) newActivity(r *runRow, a *store.ActivityTask) error {
	if a == nil {
		return fmt.Errorf("run %s: nil activity task", r.RunID)
	}
	t, err := store.NewActivityTask(r.InstanceID, r.RunID, a)
	if err != nil {
		return err
	}
	res, err := w.exec(insertTaskSQL+` ON CONFLICT (run_id, seq) DO NOTHING`, taskArgs(t)...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return w.s.wrapDB("insert activity task", err)
	} else if n == 0 {
		return fmt.Errorf("run %s: activity task %d already exists", r.RunID, a.Seq)
	}
	w.noteTask(t)
	return nil
}

func (w *wtx) abandon(op *store.WorkflowTaskAbandonOp) error {
	r, err := w.leasedRun(op.RunID, op.LeaseOwner)
	if err != nil {
		return err
	}
	// No owner holds the run, but it waits until RetryAt.
	r.leaseOwner, r.leaseUntil = "", op.RetryAt
	if _, err := w.exec(`UPDATE runs SET task_error = ?, updated_at = ?, lease_owner = '', lease_until = ? WHERE run_id = ?`,
		op.TaskError, micros(op.UpdatedAt), micros(op.RetryAt), r.RunID); err != nil {
		return err
	}
	return w.refreshReady(r)
}
