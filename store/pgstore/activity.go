package pgstore

import (
	"fmt"

	"github.com/perdure/perdure/store"
)

// dueSQL is when a task needs a claimer (due_at), from its state and the
// SQL of its visible_at, lease_until and deadline (fmt arguments): when it
// becomes visible (READY), the earlier of its lease's end and its deadline
// (RUNNING), its deadline (PENDING; NULL without one).
const dueSQL = `CASE state WHEN 'READY' THEN %[1]s
		WHEN 'RUNNING' THEN CASE WHEN %[3]s <> ` + zeroTime + ` AND %[3]s < %[2]s THEN %[3]s ELSE %[2]s END
		WHEN 'PENDING' THEN NULLIF(%[3]s, ` + zeroTime + `) END`

// The fence of an activity task operation: the task exists, is not READY,
// and its current attempt is $3; with $4, its deadline has not passed at
// $5. d is the task's (state, attempt, deadline), NULL when it is missing.
const taskFence = `SELECT CASE
		WHEN d.state IS NULL THEN perdure_fail('` + codeStaleNotFound + `',
			format('activity task %s/%s (finished or cancelled)', $1::text, $2::bigint))
		WHEN d.state = 'READY' OR d.attempt <> $3::integer THEN perdure_fail('` + codeStale + `',
			format('activity task %s/%s attempt %s: the current attempt is %s (%s)', $1, $2, $3, d.attempt, d.state))
		WHEN $4::boolean AND d.deadline <> ` + zeroTime + ` AND d.deadline <= $5::timestamptz THEN perdure_fail('` + codeStale + `',
			format('activity task %s/%s attempt %s timed out at %s', $1, $2, $3, d.deadline))
		ELSE '' END
	FROM (SELECT 1) AS one LEFT JOIN `

const (
	// finishTaskSQL deletes the task and checks the fence: a failed check
	// undoes the delete with the op.
	finishTaskSQL = `WITH d AS (DELETE FROM activity_tasks WHERE run_id = $1 AND seq = $2 RETURNING state, attempt, deadline)
	` + taskFence + `d ON true`
	fenceTaskSQL = taskFence + `(SELECT state, attempt, deadline FROM activity_tasks
		WHERE run_id = $1 AND seq = $2 FOR UPDATE) AS d ON true`

	// Locks taken in the same order everywhere: a run, then its tasks.
	lockRunSQL = `SELECT 1 FROM runs WHERE run_id = $1 FOR UPDATE`

	// fusedGuardSQL locks the run of a finished activity and fails the op
	// with codeNotFused unless a claim at $3 would hand out exactly the
	// fused task: the run is not finished or SUSPENDED, has $2 events, no
	// live lease or retry delay, and no message visible at $3. $5, when
	// set, is the error of the fused task itself.
	fusedGuardSQL = `SELECT CASE
		WHEN r.run_id IS NULL OR r.history_len <> $2::bigint OR r.status IN ` + finishedList + ` OR r.status = 'SUSPENDED'
			OR r.lease_until > $3::timestamptz OR r.ready_at <= $3
			THEN perdure_fail('` + codeNotFused + `', format('run %s: the fused task does not apply', $1::text))
		WHEN $4::text <> '' AND r.instance_id <> $4 THEN perdure_fail('` + codeNotFound + `', format('run %s of instance %L', $1, $4))
		WHEN $5::text <> '' THEN perdure_fail($5, $6::text)
		ELSE '' END
	FROM (SELECT 1) AS one LEFT JOIN (SELECT run_id, instance_id, status, history_len, lease_until, ready_at FROM runs
		WHERE run_id = $1 FOR UPDATE) AS r ON true`

	// notifyUnlessLeasedSQL wakes the other nodes when the eager lease of
	// an activity result's run did not happen.
	notifyUnlessLeasedSQL = `SELECT pg_notify($1::text, 'w') WHERE NOT EXISTS (SELECT 1 FROM runs
		WHERE run_id = $2::text AND lease_owner = $3::text AND lease_until = $4::timestamptz)`

	// Every statement that changes a task's state, visibility, lease or
	// deadline sets due_at as dueSQL says.
	retryTaskSQL = `UPDATE activity_tasks SET state = 'READY', visible_at = $3, last_failure = $4, attempts = $5,
		lease_owner = '', lease_until = ` + zeroTime + `, deadline = ` + zeroTime + `, due_at = $3
		WHERE run_id = $1 AND seq = $2`
	pendTaskSQL = `UPDATE activity_tasks SET state = 'PENDING', deadline = $3,
		lease_owner = '', lease_until = ` + zeroTime + `, due_at = NULLIF($3::timestamptz, ` + zeroTime + `)
		WHERE run_id = $1 AND seq = $2`
)

var heartbeatTaskSQL = `UPDATE activity_tasks SET heartbeat_details = COALESCE($3::bytea, heartbeat_details),
		lease_until = COALESCE($4::timestamptz, lease_until), deadline = COALESCE($5::timestamptz, deadline),
		due_at = ` + fmt.Sprintf(dueSQL, "visible_at", "COALESCE($4::timestamptz, lease_until)", "COALESCE($5::timestamptz, deadline)") + `
		WHERE run_id = $1 AND seq = $2`

// activityFinish applies an ActivityTaskFinishOp. With Then, the
// optimistic path commits the fused task, guarded by fusedGuardSQL; when
// the guard fails, the slow path delivers the message instead.
func (w *wtx) activityFinish(op *store.ActivityTaskFinishOp, slow bool, wake *Wake) error {
	then := op.Then
	visible := utc(op.Message.VisibleAt)
	now := utc(op.Now)
	if then != nil && !slow && then.RunID == op.RunID && !visible.After(utc(then.UpdatedAt)) {
		if simpleOutcome(then) {
			op.ThenApplied = true
			w.oneCommit(op.RunID, then, op, wake)
			return nil
		}
		code, msg := checkCommit(then)
		w.exec(fusedGuardSQL, op.RunID, then.HistoryLen, utc(then.UpdatedAt), then.InstanceID, code, msg)
		if code != "" {
			return nil // the guard fails the op, or sends it to the slow path
		}
		w.exec(finishTaskSQL, op.RunID, op.Seq, op.Attempt, op.RequireUnexpired, now)
		op.ThenApplied = true
		return w.commitWrites(op.RunID, then, false, true, wake)
	}
	w.exec(lockRunSQL, op.RunID)
	w.exec(finishTaskSQL, op.RunID, op.Seq, op.Attempt, op.RequireUnexpired, now)
	var ignored Wake
	w.send(&store.MessageSendOp{RunID: op.RunID, Message: op.Message, IgnoreFinished: true}, "", &ignored)
	if e := op.Eager; e != nil {
		w.eagerLease(op.RunID, e, &op.Claimed)
		w.exec(notifyUnlessLeasedSQL, w.s.channel, op.RunID, e.Owner, utc(e.LeaseUntil))
	} else {
		*wake |= WakeWorkflow
	}
	return nil
}

func (w *wtx) activityRetry(op *store.ActivityTaskRetryOp, wake *Wake) error {
	w.exec(fenceTaskSQL, op.RunID, op.Seq, op.Attempt, false, nil)
	w.exec(retryTaskSQL, op.RunID, op.Seq, utc(op.VisibleAt), op.LastFailure, op.Attempts)
	*wake |= WakeActivity
	return nil
}

func (w *wtx) activityPend(op *store.ActivityTaskPendOp, wake *Wake) error {
	w.exec(fenceTaskSQL, op.RunID, op.Seq, op.Attempt, false, nil)
	w.exec(pendTaskSQL, op.RunID, op.Seq, utc(op.Deadline))
	*wake |= WakeActivity
	return nil
}

func (w *wtx) activityHeartbeat(op *store.ActivityTaskHeartbeatOp) error {
	w.exec(fenceTaskSQL, op.RunID, op.Seq, op.Attempt, op.RequireUnexpired, utc(op.Now))
	w.exec(heartbeatTaskSQL, op.RunID, op.Seq, op.Details, timeOrNil(op.LeaseUntil), timeOrNil(op.Deadline))
	return nil
}
