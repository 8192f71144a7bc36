package pgstore

import (
	"errors"
	"time"

	"github.com/perdure/perdure/store"
)

// Under load, a batch holds many activity results with their fused tasks,
// one per run. Written one statement each, they cost PostgreSQL the
// executor's set-up of every statement; written together by one
// statement whose parts take arrays (the runs' updates, the tasks'
// deletes, the events, the new tasks), they cost it half as much. That
// statement is all or nothing: when one of its results does not apply as
// a fused task (see fusedGuardSQL), or its activity task fails its fence,
// the statement fails, the transaction is rolled back and the batch is
// applied again op by op, where each op meets its own outcome.
//
// An op goes in the bulk statement only when it is the only op of the
// batch that names its run or its instance, so that the order of the ops
// of a batch is kept wherever it matters.

// errBulk is the failure of the bulk statement: the batch is applied
// again without it.
var errBulk = errors.New("pgstore: the ops applied together did not all apply")

// codeBulk is the SQLSTATE of errBulk.
const codeBulk = "PDBK1"

// minBulk is the fewest fused results worth one statement.
const minBulk = 2

// bulkFusedSQL applies fused activity results; see bulkFused for its
// parameters.
var bulkFusedSQL = `WITH u AS (
		UPDATE runs SET updated_at = v.now, history_len = v.newlen, task_error = '',
			status = COALESCE(v.status, runs.status), output = COALESCE(v.output, runs.output),
			failure = COALESCE(v.failure, runs.failure),
			custom_status = CASE WHEN v.setcustom THEN v.custom ELSE runs.custom_status END,
			completed_at = CASE WHEN v.fin THEN v.now ELSE runs.completed_at END, waiting = v.waiting,
			ready_at = CASE WHEN v.fin THEN NULL ELSE runs.ready_at END, lease_owner = '', lease_until = ` + zeroTime + `
		FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::text[], $5::bigint[], $6::text[], $7::bytea[],
			$8::bytea[], $9::boolean[], $10::bytea[], $11::boolean[], $12::bytea[])
			AS v(run, hl, now, inst, newlen, status, output, failure, setcustom, custom, fin, waiting)
		WHERE runs.run_id = v.run AND runs.history_len = v.hl AND runs.status NOT IN ` + finishedList + `
			AND runs.status <> 'SUSPENDED' AND runs.lease_until <= v.now AND (runs.ready_at IS NULL OR runs.ready_at > v.now)
			AND (v.inst = '' OR runs.instance_id = v.inst)
		RETURNING 1),
	d AS (DELETE FROM activity_tasks t USING unnest($1::text[], $13::bigint[], $14::integer[], $15::boolean[], $16::timestamptz[])
			AS v(run, seq, attempt, unexpired, now)
		WHERE t.run_id = v.run AND t.seq = v.seq AND t.state <> 'READY' AND t.attempt = v.attempt
			AND NOT (v.unexpired AND t.deadline <> ` + zeroTime + ` AND t.deadline <= v.now)
		RETURNING 1),
	h AS (INSERT INTO history (run_id, id, type, time, data)
		SELECT * FROM unnest($17::text[], $18::bigint[], $19::text[], $20::timestamptz[], $21::bytea[])),
	n AS (INSERT INTO activity_tasks (run_id, seq, instance_id, name, task_queue, input, options, state, attempt,
			scheduled_at, visible_at, started_at, lease_owner, lease_until, deadline, heartbeat_details, last_failure, attempts, due_at)
		SELECT run, seq, inst, name, queue, input, options, state, attempt, scheduled, visible, started, owner, until,
			` + zeroTime + `, details, last, attempts, due
		FROM unnest($22::text[], $23::bigint[], $24::text[], $25::text[], $26::text[], $27::bytea[], $28::bytea[], $29::text[],
			$30::integer[], $31::timestamptz[], $32::timestamptz[], $33::timestamptz[], $34::text[], $35::timestamptz[],
			$36::bytea[], $37::bytea[], $38::bytea[], $39::timestamptz[])
			AS x(run, seq, inst, name, queue, input, options, state, attempt, scheduled, visible, started, owner, until,
				details, last, attempts, due)),
	m AS (DELETE FROM messages m USING unnest($40::text[]) AS f(run) WHERE m.run_id = f.run),
	x AS (DELETE FROM activity_tasks t USING unnest($40::text[], $41::bigint[]) AS f(run, seq) WHERE t.run_id = f.run AND t.seq <> f.seq)
	SELECT CASE WHEN (SELECT count(*) FROM u) = cardinality($1::text[]) AND (SELECT count(*) FROM d) = cardinality($1::text[])
		THEN '' ELSE perdure_fail('` + codeBulk + `', 'activity results applied together: one did not apply') END`

// bulkFused queues, in one statement, the fused activity results of ops
// that can go together, and returns which ops it took (nil: none). wakes
// receives the work each makes.
func (w *wtx) bulkFused(ops []store.Op, slow []bool, wakes []Wake) []bool {
	runs, insts := map[string]int{}, map[string]int{}
	for _, op := range ops {
		r, i, _ := lockSet([]store.Op{op})
		for _, id := range r {
			runs[id]++
		}
		for _, id := range i {
			insts[id]++
		}
	}
	var take []int
	for i, op := range ops {
		f, ok := op.(*store.ActivityTaskFinishOp)
		if !ok || slow[i] || f.Then == nil {
			continue
		}
		then := f.Then
		if then.RunID != f.RunID || utc(f.Message.VisibleAt).After(utc(then.UpdatedAt)) || !simpleOutcome(then) ||
			runs[f.RunID] != 1 || then.InstanceID == "" || insts[then.InstanceID] != 0 {
			continue
		}
		if !then.Status.Finished() && then.Eager != nil && messagesFor(f.RunID, then, nil) {
			continue
		}
		take = append(take, i)
	}
	if len(take) < minBulk {
		return nil
	}
	n := len(take)
	var (
		run, inst, status                 = make([]string, n), make([]string, n), make([]*string, n)
		hl, newLen, seq                   = make([]int64, n), make([]int64, n), make([]int64, n)
		now, opNow                        = make([]time.Time, n), make([]time.Time, n)
		output, failure, custom, waiting  = make([][]byte, n), make([][]byte, n), make([][]byte, n), make([][]byte, n)
		setCustom, fin, unexpired         = make([]bool, n), make([]bool, n), make([]bool, n)
		attempt                           = make([]int32, n)
		evRun, evType                     []string
		evID                              []int64
		evTime                            []time.Time
		evData                            [][]byte
		tRun, tInst, tName, tQueue, tSt   []string
		tOwner                            []string
		tSeq                              []int64
		tAttempt                          []int32
		tSched, tVis, tStart, tUntil, tDu []time.Time
		tIn, tOpt, tDet, tLast, tAtt      [][]byte
		finRun                            []string
		finSeq                            []int64
	)
	done := make([]bool, len(ops))
	for k, i := range take {
		f := ops[i].(*store.ActivityTaskFinishOp)
		then := f.Then
		resetOutputs(f)
		done[i] = true
		wakes[i] = 0
		run[k], inst[k], hl[k], now[k] = f.RunID, then.InstanceID, then.HistoryLen, utc(then.UpdatedAt)
		newLen[k] = then.HistoryLen + int64(len(then.NewEvents))
		if then.Status != "" {
			s := string(then.Status)
			status[k] = &s
		}
		output[k], failure[k], setCustom[k], custom[k] = then.Output, then.Failure, then.CustomStatus != nil || then.SetCustom, then.CustomStatus
		fin[k] = then.Status.Finished()
		if !fin[k] {
			waiting[k] = then.Waiting
		}
		seq[k], attempt[k], unexpired[k], opNow[k] = f.Seq, int32(f.Attempt), f.RequireUnexpired, utc(f.Now)
		for _, e := range then.NewEvents {
			evRun, evID, evType, evTime, evData = append(evRun, f.RunID), append(evID, e.ID), append(evType, e.Type), append(evTime, utc(e.Time)), append(evData, e.Data)
		}
		if fin[k] {
			finRun, finSeq = append(finRun, f.RunID), append(finSeq, f.Seq)
		} else {
			for _, a := range then.NewActivities {
				t, _ := store.NewActivityTask(then.InstanceID, f.RunID, a) // checked by checkCommit
				tRun, tSeq, tInst, tName, tQueue = append(tRun, f.RunID), append(tSeq, t.Seq), append(tInst, then.InstanceID), append(tName, t.Name), append(tQueue, t.TaskQueue)
				tIn, tOpt, tSt, tAttempt = append(tIn, t.Input), append(tOpt, t.Options), append(tSt, string(t.State)), append(tAttempt, int32(t.Attempt))
				tSched, tVis, tStart, tOwner, tUntil = append(tSched, utc(t.ScheduledAt)), append(tVis, utc(t.VisibleAt)), append(tStart, utc(t.StartedAt)), append(tOwner, t.LeaseOwner), append(tUntil, utc(t.LeaseUntil))
				tDet, tLast, tAtt, tDu = append(tDet, t.HeartbeatDetails), append(tLast, t.LastFailure), append(tAtt, t.Attempts), append(tDu, taskDue(t))
				if t.State == store.ActivityReady {
					wakes[i] |= WakeActivity
				}
			}
			if then.Eager == nil {
				wakes[i] |= WakeWorkflow
			}
		}
		f.ThenApplied = true
	}
	w.op = -1
	w.exec(planSettingsSQL)
	w.exec(bulkFusedSQL, run, hl, now, inst, newLen, status, output, failure, setCustom, custom, fin, waiting,
		seq, attempt, unexpired, opNow,
		evRun, evID, evType, evTime, evData,
		tRun, tSeq, tInst, tName, tQueue, tIn, tOpt, tSt, tAttempt, tSched, tVis, tStart, tOwner, tUntil, tDet, tLast, tAtt, tDu,
		finRun, finSeq).bulk = true
	return done
}
