package pgstore

import (
	"context"
	"errors"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/perdure/perdure/store"
)

// leaseRuns leases the runs that the CTE c (run_id, ready_at) selected to
// $3 until $4: ready_at becomes max(earliest wake-up message, the new
// lease).
var leaseRuns = `,
	l AS (
		UPDATE runs r SET lease_owner = $3::text, lease_until = $4::timestamptz,
			ready_at = GREATEST((SELECT MIN(m.visible_at) FROM messages m
				WHERE m.run_id = r.run_id AND (m.control OR r.status <> 'SUSPENDED')), $4)
		FROM c WHERE r.run_id = c.run_id
		RETURNING ` + cols("r.", runColList) + `, c.ready_at AS was_ready)`

var (
	// claimRunsSQL leases the claimable runs, oldest ready first; runs
	// that another claimer or writer holds are skipped, not waited for.
	claimRunsSQL = `WITH c AS MATERIALIZED (
		SELECT run_id, ready_at FROM runs
		WHERE ready_at <= $1::timestamptz AND ($2::text[] IS NULL OR name = ANY($2))
			AND ($6::text[] IS NULL OR task_queue = ANY($6))
			AND ($7::text[] IS NULL OR name <> ALL($7))
		ORDER BY ready_at LIMIT $5 FOR UPDATE SKIP LOCKED)` + leaseRuns + `
	SELECT ` + cols("l.", runColList) + ` FROM l ORDER BY l.was_ready, l.run_id`

	// claimMessagesSQL reads the messages of the runs a claim leased. It
	// is a statement of its own: its snapshot is taken once the claim
	// holds the runs' locks, so that it sees every message committed
	// before (claimRunsSQL may lock a run that changed after its own
	// snapshot was taken).
	claimMessagesSQL = `SELECT ` + cols("m.", []string{"id", "run_id", "type", "visible_at", "control", "data"}) + `
		FROM messages m JOIN runs r ON r.run_id = m.run_id
		WHERE m.run_id = ANY($1::text[]) AND m.visible_at <= $2::timestamptz AND (m.control OR r.status <> 'SUSPENDED')
		ORDER BY m.run_id, m.id`

	// eagerRunSQL leases run $5 when a claim at $1 would hand it out, and
	// returns it with its messages visible at $1 (only control ones while
	// SUSPENDED) as arrays in id order. The op that runs it holds the
	// run's lock already, so one statement reads them consistently. The
	// run is updated by its key (not joined with a list, as claims are):
	// the plan is the same however small the table was when the statement
	// was first planned.
	eagerRunSQL = `WITH l AS (
		UPDATE runs r SET lease_owner = $3::text, lease_until = $4::timestamptz,
			ready_at = GREATEST((SELECT MIN(m.visible_at) FROM messages m
				WHERE m.run_id = r.run_id AND (m.control OR r.status <> 'SUSPENDED')), $4)
		WHERE r.run_id = $5::text AND r.ready_at <= $1::timestamptz AND ($2::text[] IS NULL OR r.name = ANY($2))
			AND ($6::text[] IS NULL OR r.task_queue = ANY($6))
		RETURNING ` + cols("r.", runColList) + `)
	SELECT ` + cols("l.", runColList) + `, ms.ids, ms.types, ms.visible, ms.control, ms.data
	FROM l LEFT JOIN LATERAL (
		SELECT array_agg(m.id ORDER BY m.id) AS ids, array_agg(m.type ORDER BY m.id) AS types,
			array_agg(m.visible_at ORDER BY m.id) AS visible, array_agg(m.control ORDER BY m.id) AS control,
			array_agg(m.data ORDER BY m.id) AS data
		FROM messages m WHERE m.run_id = l.run_id AND m.visible_at <= $1
			AND (m.control OR l.status <> 'SUSPENDED')) AS ms ON true`
)

const (
	// repairRunsSQL drops the leases a claim took on runs without a
	// visible message (a stale ready_at) and recomputes their ready_at.
	repairRunsSQL = `UPDATE runs SET lease_owner = '', lease_until = ` + zeroTime + `,
		ready_at = (SELECT MIN(m.visible_at) FROM messages m
			WHERE m.run_id = runs.run_id AND (m.control OR runs.status <> 'SUSPENDED'))
		WHERE run_id = ANY($1::text[]) AND lease_owner = $2 AND lease_until = $3`

	// claimTasksSQL: due tasks, oldest due first. A READY task starts its
	// next attempt; an expired one keeps its attempt, and the claimer sees
	// the state and deadline it had (c.state, c.deadline).
	claimTasksSQL = `WITH c AS MATERIALIZED (
		SELECT run_id, seq, state, deadline, due_at FROM activity_tasks
		WHERE due_at <= $1::timestamptz AND ($2::text[] IS NULL OR name = ANY($2))
			AND ($6::text[] IS NULL OR task_queue = ANY($6))
		ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED)
	UPDATE activity_tasks t SET
		attempt = CASE WHEN c.state = 'READY' THEN t.attempt + 1 ELSE t.attempt END,
		started_at = CASE WHEN c.state = 'READY' THEN $1 ELSE t.started_at END,
		state = 'RUNNING', deadline = ` + zeroTime + `, lease_owner = $4::text, lease_until = $5::timestamptz, due_at = $5
	FROM c WHERE t.run_id = c.run_id AND t.seq = c.seq
	RETURNING ` + "t.run_id, t.seq, t.instance_id, t.name, t.task_queue, t.input, t.options, t.state, t.attempt, " +
		"t.scheduled_at, t.visible_at, t.started_at, t.lease_owner, t.lease_until, t.deadline, " +
		"t.heartbeat_details, t.last_failure, t.attempts" + `, c.state, c.deadline, c.due_at`

	// A leased run always has ready_at, a RUNNING task always has due_at:
	// LeasesRelease scans the same indexes as the claims.
	releaseRunsSQL = `UPDATE runs SET lease_owner = '', lease_until = ` + zeroTime + `,
		ready_at = (SELECT MIN(m.visible_at) FROM messages m
			WHERE m.run_id = runs.run_id AND (m.control OR runs.status <> 'SUSPENDED'))
		WHERE ready_at IS NOT NULL AND lease_owner <> '' AND ($1::text = '' OR lease_owner = $1)`
	// A RUNNING task without a lease is due at once (expired).
	releaseTasksSQL = `UPDATE activity_tasks SET lease_owner = '', lease_until = ` + zeroTime + `, due_at = ` + zeroTime + `
		WHERE due_at IS NOT NULL AND state = 'RUNNING' AND lease_owner <> '' AND ($1::text = '' OR lease_owner = $1)`
)

// planSettingsSQL makes the statements of a transaction that reads or
// writes a list of rows (a claim, the runs of RunGet calls read together)
// look the rows up by index and join them by nested loops, with one plan
// per statement and connection. The tables of a new database grow from
// empty, and a connection plans a statement on the sizes known when it
// first ran it (until the tables are analyzed again): a claim planned on a
// small table would otherwise scan and hash the whole runs or messages
// table to update or read the few rows it leases. And PostgreSQL would
// plan again, at every execution, a statement whose parameters are arrays
// (plan_cache_mode auto), which costs more than running it.
const planSettingsSQL = `SELECT set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true),
	set_config('enable_mergejoin', 'off', true), set_config('plan_cache_mode', 'force_generic_plan', true)`

// scanLease reads a row of eagerRunSQL.
func scanLease(rows pgx.Rows) (*store.WorkflowTask, error) {
	r := &runRow{}
	dest, finish := runDest(r)
	var ids []int64
	var types []string
	var visible []time.Time
	var control []bool
	var data [][]byte
	if err := rows.Scan(append(dest, &ids, &types, &visible, &control, &data)...); err != nil {
		return nil, err
	}
	finish()
	t := &store.WorkflowTask{Run: r.public(), LeaseOwner: r.leaseOwner, LeaseUntil: r.leaseUntil}
	if len(types) != len(ids) || len(visible) != len(ids) || len(control) != len(ids) || len(data) != len(ids) {
		return nil, errors.New("pgstore: claim: message arrays of different lengths")
	}
	for i, id := range ids {
		t.Messages = append(t.Messages, &store.Message{ID: id, RunID: r.RunID, Type: types[i], VisibleAt: visible[i], Control: control[i], Data: data[i]})
	}
	return t, nil
}

// eagerLease queues the lease of run runID for e when a claim at e.Now
// would hand it out (see store.Eager); out receives the task.
func (w *wtx) eagerLease(runID string, e *store.Eager, out **store.WorkflowTask) {
	w.query(eagerRunSQL, []any{utc(e.Now), namesArg(e.Names), e.Owner, utc(e.LeaseUntil), runID, claimNames(e.TaskQueues)}, func(rows pgx.Rows) error {
		t, err := scanLease(rows)
		if err == nil && len(t.Messages) > 0 {
			*out = t
		}
		return err
	})
}

// claimNames binds a claim's name or task queue filter: nil or empty means
// any.
func claimNames(names []string) any {
	if len(names) == 0 {
		return nil
	}
	return names
}

// WorkflowTaskClaim leases up to p.Max claimable runs, oldest ready first,
// in two round trips: the lease, then the messages. The claim is committed
// without waiting for the WAL flush (synchronous_commit off): a lease is no
// promise to anyone, and a lease lost in a crash of the database only makes
// the run claimable again, which the owner's fenced commit then detects.
func (s *Store) WorkflowTaskClaim(ctx context.Context, p *store.WorkflowTaskClaimParams) ([]*store.WorkflowTask, error) {
	now, until := utc(p.Now), utc(p.LeaseUntil)
	var out []*store.WorkflowTask
	msgs := map[string][]*store.Message{}
	err := s.write(ctx, false, func(w *wtx) error {
		w.exec(planSettingsSQL)
		out = nil
		clear(msgs)
		var ids []string
		w.query(claimRunsSQL, []any{now, claimNames(p.Names), p.Owner, until, max(p.Max, 1), claimNames(p.TaskQueues), claimNames(p.ExcludeNames)}, func(rows pgx.Rows) error {
			r, err := scanRun(rows)
			if err != nil {
				return err
			}
			out = append(out, &store.WorkflowTask{Run: r.public(), LeaseOwner: r.leaseOwner, LeaseUntil: r.leaseUntil})
			ids = append(ids, r.RunID)
			return nil
		})
		if err := w.flush(); err != nil || len(out) == 0 {
			return err
		}
		// Read with the COMMIT.
		w.query(claimMessagesSQL, []any{ids, now}, func(rows pgx.Rows) error {
			m, err := scanMsg(rows)
			if err == nil {
				msgs[m.RunID] = append(msgs[m.RunID], m)
			}
			return err
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	var stale []string
	tasks := out[:0]
	for _, t := range out {
		if t.Messages = msgs[t.Run.RunID]; len(t.Messages) == 0 {
			stale = append(stale, t.Run.RunID)
		} else {
			tasks = append(tasks, t)
		}
	}
	out = tasks
	if len(stale) > 0 {
		err := s.write(ctx, true, func(w *wtx) error {
			w.exec(repairRunsSQL, stale, p.Owner, until)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ActivityTaskClaim leases up to p.Max due activity tasks, oldest due
// first.
func (s *Store) ActivityTaskClaim(ctx context.Context, p *store.ActivityTaskClaimParams) ([]*store.ClaimedActivity, error) {
	now, until := utc(p.Now), utc(p.LeaseUntil)
	type claimed struct {
		c   *store.ClaimedActivity
		due time.Time
	}
	var got []claimed
	err := s.write(ctx, true, func(w *wtx) error {
		w.exec(planSettingsSQL)
		got = nil
		w.query(claimTasksSQL, []any{now, claimNames(p.Names), max(p.Max, 1), p.Owner, until, claimNames(p.TaskQueues)}, func(rows pgx.Rows) error {
			t := &store.ActivityTask{}
			var state, was string
			var deadline, due time.Time
			if err := rows.Scan(append(taskDest(t, &state), &was, &deadline, &due)...); err != nil {
				return err
			}
			t.State = store.ActivityState(state)
			c := &store.ClaimedActivity{Task: t}
			if store.ActivityState(was) != store.ActivityReady {
				// Expired: the caller records the lost attempt, and sees
				// the state and deadline the attempt had.
				c.Expired = true
				t.State, t.Deadline = store.ActivityState(was), deadline
			}
			got = append(got, claimed{c, due})
			return nil
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(got, func(i, j int) bool {
		a, b := got[i], got[j]
		if !a.due.Equal(b.due) {
			return a.due.Before(b.due)
		}
		if a.c.Task.RunID != b.c.Task.RunID {
			return a.c.Task.RunID < b.c.Task.RunID
		}
		return a.c.Task.Seq < b.c.Task.Seq
	})
	out := make([]*store.ClaimedActivity, len(got))
	for i, g := range got {
		out[i] = g.c
	}
	return out, nil
}

// LeasesRelease drops the leases of owner ("" = every owner).
func (s *Store) LeasesRelease(ctx context.Context, owner string) error {
	return s.write(ctx, true, func(w *wtx) error {
		w.exec(releaseRunsSQL, owner)
		w.exec(releaseTasksSQL, owner)
		w.exec(`SELECT pg_notify($1, $2)`, s.channel, payload(WakeWorkflow|WakeActivity))
		return nil
	})
}

// write runs fn in a transaction of its own (not an Apply batch) and
// commits it; durable false commits without waiting for the WAL flush.
// fn queues statements and may flush them to read results. The
// transaction runs to its end even if ctx is cancelled once it has begun,
// and is tried again after a deadlock.
func (s *Store) write(ctx context.Context, durable bool, fn func(w *wtx) error) error {
	if s.closed.Load() {
		return s.errClosed()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return s.readErr(ctx, "connect", err)
	}
	defer c.Release()
	tctx := context.WithoutCancel(ctx)
	conn := c.Conn()
	for attempt := 1; ; attempt++ {
		w := &wtx{s: s, ctx: tctx, conn: conn, op: -1, sentOp: -1}
		w.exec("BEGIN")
		if !durable {
			w.exec("SET LOCAL synchronous_commit TO OFF")
		}
		err := fn(w)
		if err == nil {
			w.exec("COMMIT")
			err = w.flush()
		}
		if err == nil {
			return nil
		}
		if conn.PgConn().TxStatus() != 'I' && !conn.IsClosed() {
			if _, rerr := conn.Exec(tctx, "ROLLBACK"); rerr != nil {
				return errors.Join(err, s.wrapDB("rollback", rerr))
			}
		}
		var rt *retryTx
		if !errors.As(err, &rt) || attempt >= maxTxAttempts {
			return err
		}
		s.retries.Add(1)
		time.Sleep(time.Duration(rand.N(attempt*2+1)) * time.Millisecond)
	}
}
