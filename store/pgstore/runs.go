package pgstore

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/perdure/perdure/store"
)

const (
	insertRunSQL = `INSERT INTO runs (` + "run_id, instance_id, name, status, is_current, input, output, failure, custom_status, " +
		"parent_instance_id, parent_run_id, parent_seq, previous_run_id, task_queue, " +
		"created_at, updated_at, completed_at, history_len, task_error, lease_owner, lease_until, ready_at, waiting" + `)
		VALUES ($1, $2, $3, $4, true, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`

	loadCurrentSQL  = `SELECT ` + "%s" + ` FROM runs WHERE instance_id = $1 AND is_current FOR UPDATE`
	loadCurrentsSQL = `SELECT %s FROM runs WHERE instance_id = ANY($1::text[]) AND is_current ORDER BY instance_id FOR UPDATE`
	usedRunIDsSQL   = `SELECT run_id FROM runs WHERE run_id = ANY($1::text[])`
	demoteSQL       = `UPDATE runs SET is_current = false WHERE run_id = $1`

	// A message to a run: ready_at = max(earliest wake-up message,
	// lease_until), and the new message can only make the earliest one
	// earlier. When the target is missing or finished, the statement
	// fails the op (but with IgnoreFinished, or for the run the
	// enclosing commit finishes) and otherwise returns the target's id.
	sendUpdate = `UPDATE runs SET ready_at = CASE WHEN status = 'SUSPENDED' AND NOT $5::boolean THEN ready_at
			ELSE GREATEST(LEAST(ready_at, $4::timestamptz), lease_until) END`
	sendInsert = `m AS (
		INSERT INTO messages (run_id, type, visible_at, control, data)
		SELECT run_id, $3::text, $4, $5, $6::bytea FROM u
		RETURNING run_id)`
	sendRunSQL = `WITH u AS (` + sendUpdate + `
		WHERE run_id = $2::text AND ($1::text = '' OR instance_id = $1) AND run_id <> $7::text
			AND status NOT IN ` + finishedList + `
		RETURNING run_id),
	` + sendInsert + `
	SELECT COALESCE((SELECT run_id FROM m), (SELECT CASE
			WHEN $8::boolean OR t.run_id = $7 THEN ''
			WHEN t.run_id IS NULL THEN perdure_fail('` + codeNotFound + `', format('send %s to instance %L run %L', $3, $1, $2))
			ELSE perdure_fail('` + codeNotRunning + `', format('send %s to instance %L run %s (%s)', $3, t.instance_id, t.run_id, t.status)) END
		FROM (SELECT 1) AS one LEFT JOIN (SELECT run_id, instance_id, status FROM runs
			WHERE run_id = $2 AND ($1 = '' OR instance_id = $1)) AS t ON true))`
	sendCurrentSQL = `WITH u AS (` + sendUpdate + `
		WHERE instance_id = $1::text AND is_current AND $2::text = '' AND run_id <> $7::text
			AND status NOT IN ` + finishedList + `
		RETURNING run_id),
	` + sendInsert + `
	SELECT COALESCE((SELECT run_id FROM m), (SELECT CASE
			WHEN $8::boolean OR t.run_id = $7 THEN ''
			WHEN t.run_id IS NULL THEN perdure_fail('` + codeNotFound + `', format('send %s to instance %L run %L', $3, $1, $2))
			ELSE perdure_fail('` + codeNotRunning + `', format('send %s to instance %L run %s (%s)', $3, $1, t.run_id, t.status)) END
		FROM (SELECT 1) AS one LEFT JOIN (SELECT run_id, status FROM runs
			WHERE instance_id = $1 AND is_current) AS t ON true))`

	// The lease of a workflow task commit or abandon: the run exists, is
	// leased by $3 and (for a commit) has $4 events; $5, when set, is the
	// error of a commit that the checks above let through.
	leaseGuardSQL = `SELECT CASE
		WHEN r.run_id IS NULL THEN perdure_fail('` + codeNotFound + `', format('run %s', $1::text))
		WHEN r.lease_owner = '' OR r.lease_owner <> $3::text THEN perdure_fail('` + codeLeaseLost + `', format('run %s is not leased by %L', $1, $3))
		WHEN $2::text <> '' AND r.instance_id <> $2 THEN perdure_fail('` + codeNotFound + `', format('run %s of instance %L', $1, $2))
		WHEN $4::bigint >= 0 AND r.history_len <> $4 THEN perdure_fail('` + codeLeaseLost + `',
			format('run %s: task started from history length %s, stored history has %s events', $1, $4, r.history_len))
		WHEN $5::text <> '' THEN perdure_fail($5, $6::text)
		ELSE '' END
	FROM (SELECT 1) AS one LEFT JOIN (SELECT run_id, instance_id, lease_owner, history_len FROM runs
		WHERE run_id = $1 FOR UPDATE) AS r ON true`

	// Rows from arrays: unnest in the select list (zipped, one row per
	// element) costs less than unnest in FROM.
	insertEventsSQL = `INSERT INTO history (run_id, id, type, time, data)
		SELECT $1, unnest($2::bigint[]), unnest($3::text[]), unnest($4::timestamptz[]), unnest($5::bytea[])`
	deleteConsumedSQL = `DELETE FROM messages WHERE run_id = $1 AND id = ANY($2::bigint[])`
	// The outcome of a workflow task; ready_at from what is left in the
	// inbox (the messages sent after it keep it up to date).
	commitRunSQL = `UPDATE runs SET updated_at = $2::timestamptz, history_len = history_len + $3::bigint, task_error = '',
		lease_owner = '', lease_until = ` + zeroTime + `,
		status = COALESCE($4::text, status),
		output = COALESCE($5::bytea, output), failure = COALESCE($6::bytea, failure),
		custom_status = CASE WHEN $7::boolean THEN $8::bytea ELSE custom_status END,
		completed_at = CASE WHEN $9::boolean THEN $2 ELSE completed_at END,
		waiting = $10::bytea,
		ready_at = CASE WHEN $9 THEN NULL ELSE (SELECT MIN(m.visible_at) FROM messages m
			WHERE m.run_id = $1 AND (m.control OR COALESCE($4, runs.status) <> 'SUSPENDED')) END
		WHERE run_id = $1`
	cancelTasksSQL = `DELETE FROM activity_tasks WHERE run_id = $1 AND seq = ANY($2::bigint[])`
	// The clean-up of a finished run.
	clearRunSQL = `WITH m AS (DELETE FROM messages WHERE run_id = $1) DELETE FROM activity_tasks WHERE run_id = $1`
	// CarryOverEvents: the new run must exist; the EventRaised messages
	// move to it, in order, with new ids.
	carryGuardSQL = `SELECT CASE WHEN EXISTS (SELECT 1 FROM runs WHERE run_id = $2::text AND run_id <> $1::text) THEN ''
		ELSE perdure_fail('` + codeNotFound + `', format('run %s: carry over events to run %s', $1, $2)) END`
	carryOverSQL = `WITH moved AS (
		INSERT INTO messages (run_id, type, visible_at, control, data)
		SELECT $2::text, type, visible_at, control, data FROM messages
		WHERE run_id = $1::text AND type = $3::text ORDER BY id
		RETURNING visible_at, control),
	woke AS (SELECT MIN(moved.visible_at) AS at FROM moved, runs n
		WHERE n.run_id = $2 AND (moved.control OR n.status <> 'SUSPENDED'))
	UPDATE runs SET ready_at = GREATEST(LEAST(runs.ready_at, woke.at), runs.lease_until)
	FROM woke WHERE runs.run_id = $2 AND woke.at IS NOT NULL`

	abandonSQL = `UPDATE runs SET task_error = $2, updated_at = $3, lease_owner = '', lease_until = $4::timestamptz,
		ready_at = (SELECT CASE WHEN MIN(m.visible_at) IS NULL THEN NULL ELSE GREATEST(MIN(m.visible_at), $4) END
			FROM messages m WHERE m.run_id = $1 AND (m.control OR runs.status <> 'SUSPENDED'))
		WHERE run_id = $1`
)

var (
	loadCurrentRunSQL  = fmt.Sprintf(loadCurrentSQL, runCols)
	loadCurrentRunsSQL = fmt.Sprintf(loadCurrentsSQL, runCols)
)

func checkCreate(op *store.RunCreateOp) error {
	in := &op.Run
	if in.InstanceID == "" || in.RunID == "" || in.Name == "" {
		return errors.New("pgstore: start: instance id, run id and workflow name are required")
	}
	return nil
}

// createTop applies a top-level RunCreateOp. The optimistic path inserts
// the run at once, as if the instance had no current run; the unique
// indexes refuse it otherwise, and the slow path reads the current run
// first.
func (w *wtx) createTop(op *store.RunCreateOp, slow bool, wake *Wake) error {
	if err := checkCreate(op); err != nil {
		return err
	}
	if !slow {
		_, err := w.insertRun(op, true, wake)
		return err
	}
	var cur *runRow
	used := false
	w.query(loadCurrentRunSQL, []any{op.Run.InstanceID}, func(rows pgx.Rows) (err error) {
		cur, err = scanRun(rows)
		return err
	})
	w.query(usedRunIDsSQL, []any{[]string{op.Run.RunID}}, func(pgx.Rows) error {
		used = true
		return nil
	})
	if err := w.flush(); err != nil {
		return err
	}
	_, err := w.createLoaded(op, cur, used, wake)
	return err
}

// createLoaded applies a RunCreateOp whose instance's current run (cur,
// nil when none) was read and locked; used says whether its run id is
// taken. It returns the new run, nil when none was created.
func (w *wtx) createLoaded(op *store.RunCreateOp, cur *runRow, used bool, wake *Wake) (*runRow, error) {
	in := &op.Run
	if cur != nil && !cur.Status.Finished() {
		if !op.FailIfExists && cur.Name == in.Name && bytes.Equal(cur.Input, in.Input) {
			op.Result, op.Created = cur.public(), false
			return nil, nil
		}
		return nil, fmt.Errorf("start instance %q: run %s is %s: %w", in.InstanceID, cur.RunID, cur.Status, store.ErrConflict)
	}
	if used {
		return nil, fmt.Errorf("start instance %q: run id %s is already used: %w", in.InstanceID, in.RunID, store.ErrConflict)
	}
	if cur != nil {
		w.exec(demoteSQL, cur.RunID)
	}
	return w.insertRun(op, false, wake)
}

// insertRun queues the insert of the run op creates, with its start
// message, its eager lease or its fused first task.
func (w *wtx) insertRun(op *store.RunCreateOp, optimistic bool, wake *Wake) (*runRow, error) {
	in := &op.Run
	r := &runRow{Run: *in}
	r.Status, r.Current = store.StatusPending, true
	r.Output, r.Failure, r.CustomStatus = nil, nil, nil
	r.CompletedAt, r.HistoryLen, r.TaskError, r.Waiting = time.Time{}, 0, "", nil
	r.CreatedAt, r.UpdatedAt = utc(r.CreatedAt), utc(r.UpdatedAt)
	visible := utc(op.Start.VisibleAt)
	then := op.Then
	fused := then != nil && then.RunID == r.RunID && then.HistoryLen == 0 && !visible.After(utc(then.UpdatedAt))
	if fused {
		// The first workflow task goes in with the run: the start goes
		// straight to history.
		if code, msg := checkCommit(then); code != "" {
			return nil, errorFor(code, msg)
		}
		applyCommit(r, then)
	} else {
		r.readyAt = &visible
		if e := op.Eager; e != nil && (e.Names == nil || slices.Contains(e.Names, r.Name)) &&
			(len(e.TaskQueues) == 0 || slices.Contains(e.TaskQueues, r.TaskQueue)) && !visible.After(utc(e.Now)) {
			r.leaseOwner, r.leaseUntil = e.Owner, utc(e.LeaseUntil)
			ready := visible
			if r.leaseUntil.After(ready) {
				ready = r.leaseUntil
			}
			r.readyAt = &ready
		}
	}
	args := []any{r.RunID, r.InstanceID, r.Name, string(r.Status), r.Input, r.Output, r.Failure, r.CustomStatus,
		r.ParentInstanceID, r.ParentRunID, r.ParentSeq, r.PreviousRunID, r.TaskQueue,
		r.CreatedAt, r.UpdatedAt, r.CompletedAt, r.HistoryLen, r.TaskError, r.leaseOwner, r.leaseUntil, r.readyAt, r.Waiting}
	fail := func(pe *pgconn.PgError) error {
		switch {
		case pe.Code != "23505":
			return nil
		case optimistic:
			return errSlowPath
		case pe.ConstraintName == "runs_current":
			// Another transaction started the instance since it was read.
			return &retryTx{err: fmt.Errorf("start instance %q: started concurrently: %w", in.InstanceID, pe)}
		}
		return fmt.Errorf("start instance %q: run id %s is already used: %w", in.InstanceID, in.RunID, store.ErrConflict)
	}
	op.Start.RunID = r.RunID
	op.Result, op.Created = r.public(), true
	if fused {
		op.ThenApplied = true
		if !simpleOutcome(then) {
			w.exec(insertRunSQL, args...).fail = fail
			return r, w.commitWrites(r.RunID, then, true, true, wake)
		}
		// The run, its first task's events and activity tasks in one
		// statement.
		w.insertRunThen(r, args, then, wake).fail = fail
		return r, nil
	}
	m := op.Start
	m.VisibleAt = visible
	if r.leaseOwner != "" {
		op.Claimed = &store.WorkflowTask{Run: r.public(), Messages: []*store.Message{&m}, LeaseOwner: r.leaseOwner, LeaseUntil: r.leaseUntil}
	} else {
		*wake |= WakeWorkflow
	}
	w.query(insertRunStartSQL, append(args, m.Type, visible, m.Control, m.Data), func(rows pgx.Rows) error {
		return rows.Scan(&m.ID)
	}).fail = fail
	return r, nil
}

// applyCommit sets on a new run r (in memory) the outcome of its fused
// first task.
func applyCommit(r *runRow, op *store.WorkflowTaskCommitOp) {
	r.UpdatedAt = utc(op.UpdatedAt)
	r.HistoryLen += int64(len(op.NewEvents))
	r.TaskError = ""
	r.leaseOwner, r.leaseUntil, r.readyAt = "", time.Time{}, nil
	if op.Status != "" {
		r.Status = op.Status
	}
	if op.Output != nil {
		r.Output = op.Output
	}
	if op.Failure != nil {
		r.Failure = op.Failure
	}
	if op.CustomStatus != nil || op.SetCustom {
		r.CustomStatus = op.CustomStatus
	}
	r.Waiting = op.Waiting
	if r.Status.Finished() {
		r.CompletedAt = r.UpdatedAt
		r.Waiting = nil
	}
}

// checkCommit checks what a commit can be refused for without reading
// the database; it returns the SQLSTATE and message of the failure, or
// "" when there is none.
func checkCommit(op *store.WorkflowTaskCommitOp) (code, msg string) {
	for i, e := range op.NewEvents {
		if want := op.HistoryLen + int64(i) + 1; e == nil || e.ID != want {
			return codeLeaseLost, fmt.Sprintf("run %s: new event %d is not numbered %d", op.RunID, i, want)
		}
	}
	if op.Status != "" && !op.Status.Valid() {
		return codeInvalid, fmt.Sprintf("pgstore: run %s: invalid status %q", op.RunID, op.Status)
	}
	if op.CarryOverEvents != "" && op.Status != store.StatusContinuedAsNew {
		return codeInvalid, fmt.Sprintf("pgstore: run %s: CarryOverEvents needs status %s", op.RunID, store.StatusContinuedAsNew)
	}
	if !op.Status.Finished() {
		for _, a := range op.NewActivities {
			if a == nil {
				return codeInvalid, fmt.Sprintf("pgstore: run %s: nil activity task", op.RunID)
			}
			if _, err := store.NewActivityTask(op.InstanceID, op.RunID, a); err != nil {
				return codeInvalid, "pgstore: " + err.Error()
			}
		}
	}
	for _, c := range op.NewRuns {
		if c == nil {
			return codeInvalid, fmt.Sprintf("pgstore: run %s: nil new run", op.RunID)
		}
	}
	for _, m := range op.Messages {
		if m == nil {
			return codeInvalid, fmt.Sprintf("pgstore: run %s: nil message", op.RunID)
		}
	}
	return "", ""
}

// errorFor is the error checkCommit's code stands for.
func errorFor(code, msg string) error {
	return opError(&pgconn.PgError{Code: code, Message: msg})
}

// send queues the delivery of op's message. finishing is the id of the
// run that the enclosing commit finishes (messages to it are dropped), or
// "".
func (w *wtx) send(op *store.MessageSendOp, finishing string, wake *Wake) {
	op.ResultRunID = ""
	m := &op.Message
	sql := sendRunSQL
	if op.RunID == "" {
		sql = sendCurrentSQL
	}
	w.query(sql, []any{op.InstanceID, op.RunID, m.Type, utc(m.VisibleAt), m.Control, m.Data, finishing, op.IgnoreFinished},
		func(rows pgx.Rows) error { return rows.Scan(&op.ResultRunID) })
	*wake |= WakeWorkflow
}

// commit applies a WorkflowTaskCommitOp: its statements check the lease
// and the history length before they write.
func (w *wtx) commit(op *store.WorkflowTaskCommitOp, wake *Wake) error {
	if simpleOutcome(op) {
		w.oneCommit(op.RunID, op, nil, wake)
		return nil
	}
	code, msg := checkCommit(op)
	w.exec(leaseGuardSQL, op.RunID, op.InstanceID, op.LeaseOwner, op.HistoryLen, code, msg)
	if code != "" {
		return nil // the guard fails the op
	}
	return w.commitWrites(op.RunID, op, false, false, wake)
}

// commitWrites queues the writes of a workflow task's outcome on run
// runID, whose lease (or, for a fused task, whose state) was checked.
// fresh: the run is inserted by the same op with the outcome already
// applied (a fused first task). fused: Consumed is ignored.
func (w *wtx) commitWrites(runID string, op *store.WorkflowTaskCommitOp, fresh, fused bool, wake *Wake) error {
	finished := op.Status.Finished()
	if n := len(op.NewEvents); n > 0 {
		ids, types, times, data := make([]int64, n), make([]string, n), make([]time.Time, n), make([][]byte, n)
		for i, e := range op.NewEvents {
			ids[i], types[i], times[i], data[i] = e.ID, e.Type, utc(e.Time), e.Data
		}
		w.exec(insertEventsSQL, runID, ids, types, times, data)
	}
	if !fresh {
		if !fused && len(op.Consumed) > 0 {
			w.exec(deleteConsumedSQL, runID, op.Consumed)
		}
		var waiting []byte
		if !finished {
			waiting = op.Waiting
		}
		w.exec(commitRunSQL, runID, utc(op.UpdatedAt), int64(len(op.NewEvents)), textOrNil(string(op.Status)),
			op.Output, op.Failure, op.CustomStatus != nil || op.SetCustom, op.CustomStatus, finished, waiting)
		if len(op.CancelActivities) > 0 {
			w.exec(cancelTasksSQL, runID, op.CancelActivities)
		}
	}
	if !finished && len(op.NewActivities) > 0 {
		if w.insertTasks(runID, op.InstanceID, op.NewActivities) {
			*wake |= WakeActivity
		}
	}
	var conflicts []*store.MessageSendOp
	if len(op.NewRuns) > 0 {
		var err error
		if conflicts, err = w.children(runID, op.NewRuns, wake); err != nil {
			return err
		}
	}
	finishing := ""
	if finished {
		finishing = runID
	}
	for _, m := range append(op.Messages, conflicts...) {
		w.send(m, finishing, wake)
	}
	if !finished {
		if op.Eager != nil && !(fused && !messagesFor(runID, op, conflicts)) {
			w.eagerLease(runID, op.Eager, &op.Claimed)
		} else {
			// What arrived during the task is claimable now.
			*wake |= WakeWorkflow
		}
		return nil
	}
	if op.CarryOverEvents != "" {
		w.exec(carryGuardSQL, runID, op.CarryOverEvents)
		w.exec(carryOverSQL, runID, op.CarryOverEvents, store.MessageTypeEventRaised)
	}
	if !fresh {
		w.exec(clearRunSQL, runID)
	}
	return nil
}

// messagesFor reports whether a fused task's commit may leave run runID
// with a message visible at op.Eager.Now, so that its eager lease must be
// looked for. The fused task applied only when the run had no visible
// message at op.UpdatedAt, and it held the run's lock since, so that no
// other transaction can have sent one: only the commit's own messages to
// the run (sends, the conflicts of its children) and a later Eager.Now can
// make one visible.
func messagesFor(runID string, op *store.WorkflowTaskCommitOp, conflicts []*store.MessageSendOp) bool {
	now := utc(op.Eager.Now)
	if now.After(utc(op.UpdatedAt)) {
		return true
	}
	for _, m := range append(op.Messages, conflicts...) {
		if (m.RunID == runID || (m.RunID == "" && (op.InstanceID == "" || m.InstanceID == op.InstanceID))) &&
			!utc(m.Message.VisibleAt).After(now) {
			return true
		}
	}
	return false
}

// children applies the NewRuns of a commit of run runID: it reads the
// current runs of their instances (one round trip for all), then creates
// them in order. A child that conflicts sets its Err and, with
// OnConflict, sends that message to runID; the returned sends do that.
func (w *wtx) children(runID string, runs []*store.RunCreateOp, wake *Wake) ([]*store.MessageSendOp, error) {
	insts, ids := make([]string, 0, len(runs)), make([]string, 0, len(runs))
	for _, c := range runs {
		if err := checkCreate(c); err != nil {
			return nil, fmt.Errorf("run %s: new run: %w", runID, err)
		}
		insts, ids = append(insts, c.Run.InstanceID), append(ids, c.Run.RunID)
	}
	cur, used := map[string]*runRow{}, map[string]bool{}
	w.query(loadCurrentRunsSQL, []any{insts}, func(rows pgx.Rows) error {
		r, err := scanRun(rows)
		if err == nil {
			cur[r.InstanceID] = r
		}
		return err
	})
	w.query(usedRunIDsSQL, []any{ids}, func(rows pgx.Rows) error {
		var id string
		err := rows.Scan(&id)
		used[id] = true
		return err
	})
	if err := w.flush(); err != nil {
		return nil, err
	}
	var conflicts []*store.MessageSendOp
	for _, c := range runs {
		r, err := w.createLoaded(c, cur[c.Run.InstanceID], used[c.Run.RunID], wake)
		var f *opFail
		if errors.Is(err, store.ErrConflict) && !errors.As(err, &f) {
			resetCreate(c)
			c.Err = err
			if c.OnConflict != nil {
				conflicts = append(conflicts, &store.MessageSendOp{RunID: runID, Message: *c.OnConflict, IgnoreFinished: true})
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("run %s: new run: %w", runID, err)
		}
		if r != nil {
			cur[r.InstanceID], used[r.RunID] = r, true
		}
	}
	return conflicts, nil
}

// abandon applies a WorkflowTaskAbandonOp: no owner holds the run, but it
// waits until RetryAt.
func (w *wtx) abandon(op *store.WorkflowTaskAbandonOp, wake *Wake) error {
	w.exec(leaseGuardSQL, op.RunID, "", op.LeaseOwner, int64(-1), "", "")
	w.exec(abandonSQL, op.RunID, op.TaskError, utc(op.UpdatedAt), utc(op.RetryAt))
	*wake |= WakeWorkflow
	return nil
}
