package pgstore

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/perdure/perdure/store"
)

// The fast path writes a workflow task's outcome, with the op it belongs
// to, in one statement: a commit with its lease check, an activity result
// with the task it wakes (fused dispatch), a start with its first task.
// PostgreSQL spends on every statement the set-up of its plan and a round
// of the protocol, whatever the statement does, and those are most of what
// a step of a workflow costs it: one statement whose parts are
// data-modifying WITH queries does the work of six. It applies to the
// outcomes that send no message, start no run and cancel no activity,
// which is what most steps are; the others take the general path
// (commitWrites), statement by statement.

// simpleOutcome reports whether the outcome of a task can be written by
// one statement: no message, no new run, no cancelled task, no events
// carried over, nothing that checkCommit refuses.
func simpleOutcome(op *store.WorkflowTaskCommitOp) bool {
	if len(op.Messages) > 0 || len(op.NewRuns) > 0 || len(op.CancelActivities) > 0 || op.CarryOverEvents != "" {
		return false
	}
	code, _ := checkCommit(op)
	return code == ""
}

// sqlb builds a statement and its arguments together: p adds an argument
// and returns its placeholder. With text nil, only the arguments are
// collected (the statement's text is cached).
type sqlb struct {
	text *strings.Builder
	args []any
}

func (b *sqlb) p(v any, cast string) string {
	b.args = append(b.args, v)
	if b.text == nil {
		return ""
	}
	return "$" + strconv.Itoa(len(b.args)) + "::" + cast
}

func (b *sqlb) w(s ...string) {
	if b.text != nil {
		for _, x := range s {
			b.text.WriteString(x)
		}
	}
}

// stmtCache keeps the text of the statements that sqlb built, by shape.
type stmtCache struct {
	mu sync.Mutex
	m  map[int]string
}

// build returns the statement of shape key and its arguments: fn is
// called with a sqlb that writes the text the first time only.
func (c *stmtCache) build(key int, fn func(b *sqlb)) (string, []any) {
	c.mu.Lock()
	text, ok := c.m[key]
	c.mu.Unlock()
	b := &sqlb{args: make([]any, 0, 40)}
	if !ok {
		b.text = &strings.Builder{}
	}
	fn(b)
	if !ok {
		text = b.text.String()
		c.mu.Lock()
		if c.m == nil {
			c.m = map[int]string{}
		}
		c.m[key] = text
		c.mu.Unlock()
	}
	return text, b.args
}

// eventsInsert writes the insert of a task's new events as a WITH query
// named name: one row of parameters per event for up to maxRowEvents,
// arrays beyond. eventsShape is the part of a statement's shape it
// decides.
func eventsInsert(b *sqlb, name, run string, evs []*store.Event) {
	b.w(name, ` AS (INSERT INTO history (run_id, id, type, time, data) `)
	if n := len(evs); n <= maxRowEvents {
		for i, e := range evs {
			if i == 0 {
				b.w(`VALUES (`)
			} else {
				b.w(`, (`)
			}
			b.w(run, `, `, b.p(e.ID, "bigint"), `, `, b.p(e.Type, "text"), `, `, b.p(utc(e.Time), "timestamptz"), `, `, b.p(e.Data, "bytea"), `)`)
		}
		b.w(`)`)
		return
	}
	n := len(evs)
	ids, types, times, data := make([]int64, n), make([]string, n), make([]time.Time, n), make([][]byte, n)
	for i, e := range evs {
		ids[i], types[i], times[i], data[i] = e.ID, e.Type, utc(e.Time), e.Data
	}
	b.w(`SELECT `, run, `, unnest(`, b.p(ids, "bigint[]"), `), unnest(`, b.p(types, "text[]"), `), unnest(`,
		b.p(times, "timestamptz[]"), `), unnest(`, b.p(data, "bytea[]"), `))`)
}

// maxRowEvents is the most events eventsInsert writes as rows of
// parameters: each count is a statement of its own.
const maxRowEvents = 4

func eventsShape(evs []*store.Event) int { return min(len(evs), maxRowEvents+1) }

// taskDue is when a new task needs a claimer (the due_at column): a READY
// task when it becomes visible, a RUNNING one (attempt 1, no deadline yet)
// when its lease ends.
func taskDue(t *store.ActivityTask) time.Time {
	if t.State == store.ActivityRunning {
		return utc(t.LeaseUntil)
	}
	return utc(t.VisibleAt)
}

// tasksInsert writes the insert of new activity tasks as a WITH query
// named name, from parameters for one task and from arrays for more;
// instance is the SQL of the tasks' instance id, and from, when not empty,
// the FROM clause it needs. It reports whether one of the tasks is READY
// (claimable by any node). tasksShape is the part of a statement's shape
// it decides.
func tasksInsert(b *sqlb, name, run, instance, from, instanceID, runID string, acts []*store.ActivityTask) (ready bool) {
	b.w(name, ` AS (INSERT INTO activity_tasks (run_id, seq, instance_id, name, task_queue, input, options, state, attempt,
		scheduled_at, visible_at, started_at, lease_owner, lease_until, deadline, heartbeat_details, last_failure, attempts, due_at)
		SELECT `, run)
	if len(acts) == 1 {
		t, _ := store.NewActivityTask(instanceID, runID, acts[0]) // checked by checkCommit
		b.w(`, `, b.p(t.Seq, "bigint"), `, `, instance, `, `, b.p(t.Name, "text"), `, `, b.p(t.TaskQueue, "text"), `, `,
			b.p(t.Input, "bytea"), `, `, b.p(t.Options, "bytea"), `, `, b.p(string(t.State), "text"), `, `, b.p(int32(t.Attempt), "integer"), `, `,
			b.p(utc(t.ScheduledAt), "timestamptz"), `, `, b.p(utc(t.VisibleAt), "timestamptz"), `, `, b.p(utc(t.StartedAt), "timestamptz"), `, `,
			b.p(t.LeaseOwner, "text"), `, `, b.p(utc(t.LeaseUntil), "timestamptz"), `, `, zeroTime, `, `,
			b.p(t.HeartbeatDetails, "bytea"), `, `, b.p(t.LastFailure, "bytea"), `, `, b.p(t.Attempts, "bytea"), `, `, b.p(taskDue(t), "timestamptz"))
		ready = t.State == store.ActivityReady
	} else {
		n := len(acts)
		seq, names, queue, input, options, state := make([]int64, n), make([]string, n), make([]string, n), make([][]byte, n), make([][]byte, n), make([]string, n)
		attempt := make([]int32, n)
		scheduled, visible, started, until, due := make([]time.Time, n), make([]time.Time, n), make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
		owner := make([]string, n)
		details, last, attempts := make([][]byte, n), make([][]byte, n), make([][]byte, n)
		for i, a := range acts {
			t, _ := store.NewActivityTask(instanceID, runID, a) // checked by checkCommit
			seq[i], names[i], queue[i], input[i], options[i], state[i] = t.Seq, t.Name, t.TaskQueue, t.Input, t.Options, string(t.State)
			attempt[i] = int32(t.Attempt)
			scheduled[i], visible[i], started[i], until[i] = utc(t.ScheduledAt), utc(t.VisibleAt), utc(t.StartedAt), utc(t.LeaseUntil)
			owner[i] = t.LeaseOwner
			details[i], last[i], attempts[i] = t.HeartbeatDetails, t.LastFailure, t.Attempts
			due[i] = taskDue(t)
			ready = ready || t.State == store.ActivityReady
		}
		b.w(`, unnest(`, b.p(seq, "bigint[]"), `), `, instance)
		for _, a := range []struct {
			v    any
			cast string
		}{{names, "text[]"}, {queue, "text[]"}, {input, "bytea[]"}, {options, "bytea[]"}, {state, "text[]"}, {attempt, "integer[]"},
			{scheduled, "timestamptz[]"}, {visible, "timestamptz[]"}, {started, "timestamptz[]"}, {owner, "text[]"}, {until, "timestamptz[]"}} {
			b.w(", unnest(", b.p(a.v, a.cast), ")")
		}
		b.w(", ", zeroTime)
		for _, v := range [][][]byte{details, last, attempts} {
			b.w(", unnest(", b.p(v, "bytea[]"), ")")
		}
		b.w(", unnest(", b.p(due, "timestamptz[]"), ")")
	}
	if from != "" {
		b.w(" FROM ", from)
	}
	b.w(")")
	return ready
}

func tasksShape(acts []*store.ActivityTask) int { return min(len(acts), 2) }

var insertTasksStmts stmtCache

// insertTasks queues the insert of a commit's new activity tasks and
// reports whether one of them is READY (claimable by any node).
func (w *wtx) insertTasks(runID, instanceID string, acts []*store.ActivityTask) (ready bool) {
	sql, args := insertTasksStmts.build(tasksShape(acts), func(b *sqlb) {
		run := b.p(runID, "text")
		b.w(`WITH `)
		ready = tasksInsert(b, "t", run, `(SELECT instance_id FROM runs WHERE run_id = `+run+`)`, "", instanceID, runID, acts)
		b.w(` SELECT 1`)
	})
	w.exec(sql, args...)
	return ready
}

// The shapes of the one-statement commit.
const (
	shapeFused    = 1 << iota // guarded as a fused task (else by the lease)
	shapeFinish               // with the activity result's task delete and fence
	shapeConsumed             // deletes consumed messages
	shapeEvents               // inserts events
	shapeTasks                // inserts activity tasks
	shapeFinished             // the run finishes: its inbox and tasks go
	shapeEager                // leases the run again when messages are visible

	// The events' shape (eventsShape) is shifted by shapeEventsShift, the
	// tasks' (tasksShape) by shapeTasksShift.
	shapeEventsShift = 8
	shapeTasksShift  = 12
)

var commitStmts stmtCache

// oneCommit queues the outcome op of a workflow task on run runID as one
// statement (simpleOutcome must hold). fin, when not nil, is the activity
// result the task is fused with: the task is guarded as fusedGuardSQL
// guards it; otherwise it is guarded by its lease as leaseGuardSQL does,
// its consumed messages are deleted, and with op.Eager the run is leased
// again in the same statement when messages arrived during the task.
func (w *wtx) oneCommit(runID string, op *store.WorkflowTaskCommitOp, fin *store.ActivityTaskFinishOp, wake *Wake) {
	finished := op.Status.Finished()
	shape := 0
	if fin != nil {
		shape |= shapeFused | shapeFinish
	} else if len(op.Consumed) > 0 && !finished {
		shape |= shapeConsumed
	}
	if len(op.NewEvents) > 0 {
		shape |= shapeEvents
	}
	if !finished && len(op.NewActivities) > 0 {
		shape |= shapeTasks
	}
	if finished {
		shape |= shapeFinished
	}
	eager := fin == nil && !finished && op.Eager != nil
	if eager {
		shape |= shapeEager
	}
	shape |= eventsShape(op.NewEvents) << shapeEventsShift
	if shape&shapeTasks != 0 {
		shape |= tasksShape(op.NewActivities) << shapeTasksShift
	}
	ready := false
	sql, args := commitStmts.build(shape, func(b *sqlb) {
		run, now := b.p(runID, "text"), b.p(utc(op.UpdatedAt), "timestamptz")
		inst, hl := b.p(op.InstanceID, "text"), b.p(op.HistoryLen, "bigint")
		status := b.p(textOrNil(string(op.Status)), "text")
		var consumed, owner string
		if shape&shapeConsumed != 0 {
			consumed = b.p(op.Consumed, "bigint[]")
		}
		if fin == nil {
			owner = b.p(op.LeaseOwner, "text")
		}
		b.w(`WITH u AS (UPDATE runs SET updated_at = `, now, `, history_len = `, b.p(op.HistoryLen+int64(len(op.NewEvents)), "bigint"),
			`, task_error = '', status = COALESCE(`, status, `, runs.status), output = COALESCE(`, b.p(op.Output, "bytea"),
			`, runs.output), failure = COALESCE(`, b.p(op.Failure, "bytea"), `, runs.failure), custom_status = CASE WHEN `,
			b.p(op.CustomStatus != nil || op.SetCustom, "boolean"), ` THEN `, b.p(op.CustomStatus, "bytea"), ` ELSE runs.custom_status END`)
		switch {
		case finished:
			b.w(`, completed_at = `, now, `, waiting = NULL, ready_at = NULL, lease_owner = '', lease_until = `, zeroTime)
		case fin != nil:
			// ready_at stays: the task consumed no message, and the run
			// had no live lease and no visible message (the guard), so
			// that ready_at was the visibility of its earliest message.
			b.w(`, waiting = `, b.p(op.Waiting, "bytea"), `, lease_owner = '', lease_until = `, zeroTime)
		default:
			// ready_at from what is left in the inbox; the consumed
			// messages are deleted by the same statement, which does not
			// see its own deletes.
			next := `CASE WHEN COALESCE(` + status + `, runs.status) = 'SUSPENDED' THEN mm.control ELSE mm.any END`
			b.w(`, waiting = `, b.p(op.Waiting, "bytea"))
			if eager {
				e := op.Eager
				enow, until := b.p(utc(e.Now), "timestamptz"), b.p(utc(e.LeaseUntil), "timestamptz")
				leased := `(` + next + ` <= ` + enow + ` AND (` + b.p(namesArg(e.Names), "text[]") + ` IS NULL OR runs.name = ANY(` +
					b.p(namesArg(e.Names), "text[]") + `)) AND (` + b.p(claimNames(e.TaskQueues), "text[]") +
					` IS NULL OR runs.task_queue = ANY(` + b.p(claimNames(e.TaskQueues), "text[]") + `)))`
				b.w(`, lease_owner = CASE WHEN `, leased, ` THEN `, b.p(e.Owner, "text"), ` ELSE '' END`,
					`, lease_until = CASE WHEN `, leased, ` THEN `, until, ` ELSE `, zeroTime, ` END`,
					`, ready_at = CASE WHEN `, leased, ` THEN GREATEST(`, next, `, `, until, `) ELSE `, next, ` END`)
			} else {
				b.w(`, lease_owner = '', lease_until = `, zeroTime, `, ready_at = `, next)
			}
			b.w(` FROM (SELECT MIN(m.visible_at) AS any, MIN(m.visible_at) FILTER (WHERE m.control) AS control
				FROM messages m WHERE m.run_id = `, run)
			if consumed != "" {
				b.w(` AND m.id <> ALL(`, consumed, `)`)
			}
			b.w(`) AS mm`)
		}
		b.w(` WHERE runs.run_id = `, run, ` AND runs.history_len = `, hl, ` AND (`, inst, ` = '' OR runs.instance_id = `, inst, `)`)
		if fin != nil {
			b.w(` AND runs.status NOT IN `, finishedList, ` AND runs.status <> 'SUSPENDED' AND runs.lease_until <= `, now,
				` AND (runs.ready_at IS NULL OR runs.ready_at > `, now, `)`)
		} else {
			b.w(` AND runs.lease_owner = `, owner, ` AND runs.lease_owner <> ''`)
		}
		if eager {
			b.w(` RETURNING `, cols("runs.", runColList), `, runs.lease_owner <> '' AS leased)`)
		} else {
			b.w(` RETURNING runs.instance_id)`)
		}
		var seq, attempt string
		if fin != nil {
			seq, attempt = b.p(fin.Seq, "bigint"), b.p(fin.Attempt, "integer")
			b.w(`,
	d AS (DELETE FROM activity_tasks WHERE run_id = `, run, ` AND seq = `, seq, ` RETURNING state, attempt, deadline)`)
		}
		if consumed != "" {
			b.w(`,
	c AS (DELETE FROM messages WHERE run_id = `, run, ` AND id = ANY(`, consumed, `))`)
		}
		if shape&shapeEvents != 0 {
			b.w(",\n\t")
			eventsInsert(b, "h", run, op.NewEvents)
		}
		if shape&shapeTasks != 0 {
			b.w(",\n\t")
			ready = tasksInsert(b, "t", run, "u.instance_id", "u", op.InstanceID, runID, op.NewActivities)
		}
		if finished {
			b.w(`,
	m AS (DELETE FROM messages WHERE run_id = `, run, `),
	x AS (DELETE FROM activity_tasks WHERE run_id = `, run)
			if fin != nil {
				b.w(` AND seq <> `, seq)
			}
			b.w(`)`)
		}
		b.w(`
	SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM u) THEN `)
		if fin != nil {
			b.w(`CASE
			WHEN `, inst, ` <> '' AND EXISTS (SELECT 1 FROM runs r WHERE r.run_id = `, run, ` AND r.instance_id <> `, inst, `
				AND r.history_len = `, hl, ` AND r.status NOT IN `+finishedList+` AND r.status <> 'SUSPENDED'
				AND r.lease_until <= `, now, ` AND (r.ready_at IS NULL OR r.ready_at > `, now, `))
				THEN perdure_fail('`+codeNotFound+`', format('run %s of instance %L', `, run, `, `, inst, `))
			ELSE perdure_fail('`+codeNotFused+`', format('run %s: the fused task does not apply', `, run, `)) END
		WHEN d.state IS NULL THEN perdure_fail('`+codeStaleNotFound+`', format('activity task %s/%s (finished or cancelled)', `, run, `, `, seq, `))
		WHEN d.state = 'READY' OR d.attempt <> `, attempt, ` THEN perdure_fail('`+codeStale+`',
			format('activity task %s/%s attempt %s: the current attempt is %s (%s)', `, run, `, `, seq, `, `, attempt, `, d.attempt, d.state))
		WHEN `, b.p(fin.RequireUnexpired, "boolean"), ` AND d.deadline <> `, zeroTime, ` AND d.deadline <= `, b.p(utc(fin.Now), "timestamptz"),
				` THEN perdure_fail('`+codeStale+`', format('activity task %s/%s attempt %s timed out at %s', `, run, `, `, seq, `, `, attempt, `, d.deadline))
		ELSE '' END
	FROM (SELECT 1) AS one LEFT JOIN d ON true`)
		} else {
			b.w(`(SELECT CASE
			WHEN r.run_id IS NULL THEN perdure_fail('`+codeNotFound+`', format('run %s', `, run, `))
			WHEN r.lease_owner = '' OR r.lease_owner <> `, owner, ` THEN perdure_fail('`+codeLeaseLost+`', format('run %s is not leased by %L', `, run, `, `, owner, `))
			WHEN `, inst, ` <> '' AND r.instance_id <> `, inst, ` THEN perdure_fail('`+codeNotFound+`', format('run %s of instance %L', `, run, `, `, inst, `))
			ELSE perdure_fail('`+codeLeaseLost+`', format('run %s: task started from history length %s, stored history has %s events', `, run, `, `, hl, `, r.history_len)) END
			FROM (SELECT 1) AS one LEFT JOIN runs r ON r.run_id = `, run, `) ELSE '' END`)
			if eager {
				b.w(`, u.*, ms.ids, ms.types, ms.visible, ms.control, ms.data
	FROM (SELECT 1) AS one LEFT JOIN u ON true LEFT JOIN LATERAL (
		SELECT array_agg(m.id ORDER BY m.id) AS ids, array_agg(m.type ORDER BY m.id) AS types,
			array_agg(m.visible_at ORDER BY m.id) AS visible, array_agg(m.control ORDER BY m.id) AS control,
			array_agg(m.data ORDER BY m.id) AS data
		FROM messages m WHERE u.leased AND m.run_id = `, run, ` AND m.visible_at <= `, b.p(utc(op.Eager.Now), "timestamptz"))
				if consumed != "" {
					b.w(` AND m.id <> ALL(`, consumed, `)`)
				}
				b.w(` AND (m.control OR u.status <> 'SUSPENDED')) AS ms ON true`)
			}
		}
	})
	if ready {
		*wake |= WakeActivity
	}
	if !eager {
		w.exec(sql, args...)
	} else {
		w.query(sql, args, func(rows pgx.Rows) error {
			var ok string
			r := &runRow{}
			dest, finish := runDest(r)
			var leased *bool
			var ids []int64
			var types []string
			var visible []time.Time
			var control []bool
			var data [][]byte
			if err := rows.Scan(append(append([]any{&ok}, dest...), &leased, &ids, &types, &visible, &control, &data)...); err != nil {
				return err
			}
			if leased == nil || !*leased || len(ids) == 0 {
				return nil
			}
			finish()
			if len(types) != len(ids) || len(visible) != len(ids) || len(control) != len(ids) || len(data) != len(ids) {
				return fmt.Errorf("pgstore: commit: message arrays of different lengths")
			}
			t := &store.WorkflowTask{Run: r.public(), LeaseOwner: r.leaseOwner, LeaseUntil: r.leaseUntil}
			for i, id := range ids {
				t.Messages = append(t.Messages, &store.Message{ID: id, RunID: r.RunID, Type: types[i], VisibleAt: visible[i], Control: control[i], Data: data[i]})
			}
			op.Claimed = t
			return nil
		})
	}
	switch {
	case finished:
	case fin != nil:
		// See messagesFor.
		if op.Eager == nil {
			*wake |= WakeWorkflow
		} else if messagesFor(runID, op, nil) {
			w.eagerLease(runID, op.Eager, &op.Claimed)
		}
	case op.Eager == nil:
		// What arrived during the task is claimable now.
		*wake |= WakeWorkflow
	}
}

// insertRunThenSQL, by outcome (0: the run goes on and schedules
// activities, 1: it does not), is a new run (insertRunSQL's parameters,
// its fused first task applied) with that task's events and new activity
// tasks in one statement.
var insertRunThen stmtCache

// insertRunThen queues the insert of run r (args are insertRunSQL's) with
// its fused first task op (simpleOutcome holds).
func (w *wtx) insertRunThen(r *runRow, args []any, op *store.WorkflowTaskCommitOp, wake *Wake) *stmt {
	tasks := !op.Status.Finished() && len(op.NewActivities) > 0
	shape := eventsShape(op.NewEvents)
	if tasks {
		shape |= tasksShape(op.NewActivities) << shapeTasksShift
	}
	ready := false
	sql, all := insertRunThen.build(shape, func(b *sqlb) {
		b.args = append(b.args, args...)
		b.w(`WITH r AS (`, insertRunSQL, `),
	`)
		eventsInsert(b, "h", "$1::text", op.NewEvents)
		if tasks {
			b.w(",\n\t")
			ready = tasksInsert(b, "t", "$1::text", "$2::text", "", r.InstanceID, r.RunID, op.NewActivities)
		}
		b.w("\n\tSELECT 1")
	})
	if ready {
		*wake |= WakeActivity
	}
	st := w.exec(sql, all...)
	if !op.Status.Finished() {
		switch {
		case op.Eager == nil:
			*wake |= WakeWorkflow
		case messagesFor(r.RunID, op, nil):
			w.eagerLease(r.RunID, op.Eager, &op.Claimed)
		}
	}
	return st
}

// insertRunStartSQL is a new run (insertRunSQL's parameters) with its start
// message ($23 type, $24 visible_at, $25 control, $26 data) in one
// statement that returns the message's id.
const insertRunStartSQL = `WITH r AS (` + insertRunSQL + `)
	INSERT INTO messages (run_id, type, visible_at, control, data) VALUES ($1, $23, $24, $25, $26) RETURNING id`
