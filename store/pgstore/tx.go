package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/perdure/perdure/store"
)

// A write transaction queues its statements and sends them in one pipeline
// (one round trip) when it needs a result to go on, or at COMMIT. The
// statements of an op check the contract themselves and raise an error
// (perdure_fail) when it refuses the op, so that an op needs no read of its
// own: a batch of ops that read nothing is one round trip, BEGIN and COMMIT
// included.
//
// Each op of a batch of several runs inside SAVEPOINT op … RELEASE SAVEPOINT
// op. When a statement fails, PostgreSQL skips the rest of the pipeline, so
// that the failed op's RELEASE never ran: ROLLBACK TO SAVEPOINT op undoes
// exactly that op, and the ops after it are applied again.

// stmt is a statement queued in a write transaction.
type stmt struct {
	sql  string
	args []any
	op   int // index of the op it belongs to; -1: transaction control
	// row, when set, is called for each result row.
	row func(pgx.Rows) error
	// fail, when set, maps a database error of this statement to the op's
	// error (nil: the default mapping).
	fail func(*pgconn.PgError) error
	// bulk marks the statement of bulkFused: its failure is errBulk.
	bulk bool
}

// wtx is a write transaction on one connection.
type wtx struct {
	s     *Store
	ctx   context.Context
	conn  *pgx.Conn
	queue []*stmt
	op    int  // the op being applied; -1 outside ops
	sent  bool // a statement of the transaction reached the server
	// sentOp is the last op with a statement that reached the server
	// since the last rollback to a savepoint.
	sentOp int
}

// exec queues a statement whose result is not needed.
func (w *wtx) exec(sql string, args ...any) *stmt {
	st := &stmt{sql: sql, args: args, op: w.op}
	w.queue = append(w.queue, st)
	return st
}

// query queues a statement and calls row for each of its result rows when
// the queue is sent.
func (w *wtx) query(sql string, args []any, row func(pgx.Rows) error) *stmt {
	st := &stmt{sql: sql, args: args, op: w.op, row: row}
	w.queue = append(w.queue, st)
	return st
}

// opFail is the failure of one op, raised by one of its statements (or
// decided after a read): the transaction goes on without the op.
type opFail struct {
	op  int
	err error
}

func (f *opFail) Error() string { return f.err.Error() }

// retryTx is a failure of the whole transaction that a new attempt may not
// meet: a deadlock, a serialization failure, two nodes creating the same
// instance at once.
type retryTx struct{ err error }

func (e *retryTx) Error() string { return e.err.Error() }
func (e *retryTx) Unwrap() error { return e.err }

// errSlowPath fails an op that was applied on an optimistic assumption (a
// start of an instance id that has no current run, a fused task that
// applies) which did not hold: the op is applied again without it.
var errSlowPath = errors.New("pgstore: optimistic path did not apply")

// Custom SQLSTATEs raised by perdure_fail.
const (
	codeNotFound      = "PDNF1"
	codeLeaseLost     = "PDLL1"
	codeStale         = "PDST1"
	codeStaleNotFound = "PDSN1"
	codeNotRunning    = "PDNR1"
	codeNotFused      = "PDFU1"
	codeInvalid       = "PDIN1"
)

// opError maps a database error raised by an op's statement onto the op's
// error; nil when the error is not the op's fault.
func opError(pe *pgconn.PgError) error {
	switch pe.Code {
	case codeNotFound:
		return fmt.Errorf("%s: %w", pe.Message, store.ErrNotFound)
	case codeLeaseLost:
		return fmt.Errorf("%s: %w", pe.Message, store.ErrLeaseLost)
	case codeStale:
		return fmt.Errorf("%s: %w", pe.Message, store.ErrStaleTask)
	case codeStaleNotFound:
		return fmt.Errorf("%s: %w: %w", pe.Message, store.ErrStaleTask, store.ErrNotFound)
	case codeNotRunning:
		return fmt.Errorf("%s: %w", pe.Message, store.ErrNotRunning)
	case codeNotFused:
		return errSlowPath
	case codeInvalid:
		return errors.New(pe.Message)
	}
	switch {
	case strings.HasPrefix(pe.Code, "23"), strings.HasPrefix(pe.Code, "22"):
		// Integrity constraints and invalid data (a NUL in a string,
		// invalid UTF-8, a time out of range): the op's input.
		msg := pe.Message
		if pe.Detail != "" {
			msg += ": " + pe.Detail
		}
		return errors.New("pgstore: " + msg)
	}
	return nil
}

func retryable(pe *pgconn.PgError) bool {
	return pe.Code == "40001" || pe.Code == "40P01" // serialization failure, deadlock
}

// flush sends the queued statements in one pipeline and hands their rows
// to their callbacks. A statement that fails makes PostgreSQL skip the
// ones after it; the error says which op failed (*opFail), or that the
// transaction failed (*retryTx, *dbErr).
func (w *wtx) flush() error {
	if len(w.queue) == 0 {
		return nil
	}
	q := w.queue
	w.queue = nil
	b := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(q))}
	for _, st := range q {
		// Explicitly prepared statements are kept when a statement of the
		// batch fails (pgx drops the statements it caches by itself).
		if _, err := w.conn.Prepare(w.ctx, st.sql, st.sql); err != nil {
			return w.s.wrapDB("prepare "+firstLine(st.sql), err)
		}
		b.Queue(st.sql, st.args...)
	}
	w.sent = true
	for _, st := range q {
		w.sentOp = max(w.sentOp, st.op)
	}
	br := w.conn.SendBatch(w.ctx, b)
	for _, st := range q {
		if err := result(br, st); err != nil {
			_ = br.Close()
			return w.stmtErr(st, err)
		}
	}
	if err := br.Close(); err != nil {
		return w.s.wrapDB("write", err)
	}
	return nil
}

// rowErr is an error of a row callback.
type rowErr struct{ err error }

func (e *rowErr) Error() string { return e.err.Error() }
func (e *rowErr) Unwrap() error { return e.err }

func result(br pgx.BatchResults, st *stmt) error {
	if st.row == nil {
		_, err := br.Exec()
		return err
	}
	rows, err := br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := st.row(rows); err != nil {
			return &rowErr{err}
		}
	}
	return rows.Err()
}

// stmtErr classifies the error of statement st.
func (w *wtx) stmtErr(st *stmt, err error) error {
	var pe *pgconn.PgError
	var re *rowErr
	if st.bulk && errors.As(err, &pe) {
		return errBulk
	}
	if errors.As(err, &pe) && !errors.As(err, &re) && st.op >= 0 {
		if st.fail != nil {
			if e := st.fail(pe); e != nil {
				var rt *retryTx
				if errors.As(e, &rt) {
					return e
				}
				return &opFail{op: st.op, err: e}
			}
		}
		if e := opError(pe); e != nil {
			return &opFail{op: st.op, err: e}
		}
	}
	if errors.As(err, &pe) && retryable(pe) {
		return &retryTx{err: w.s.wrapDB(firstLine(st.sql), err)}
	}
	return w.s.wrapDB(firstLine(st.sql), err)
}

func firstLine(sql string) string {
	sql = strings.TrimSpace(sql)
	if i := strings.IndexByte(sql, '\n'); i >= 0 {
		sql = sql[:i]
	}
	return sql
}

// dropOp removes the queued statements of op i and reports whether a
// statement of op i had been sent (then its SAVEPOINT had been too).
func (w *wtx) dropOp(i int) (sent bool) {
	keep := w.queue[:0]
	for _, st := range w.queue {
		if st.op != i {
			keep = append(keep, st)
		}
	}
	w.queue = keep
	return w.sentOp >= i
}

// maxTxAttempts bounds the attempts of a transaction that meets deadlocks
// or concurrent starts of the same instance.
const maxTxAttempts = 8

// Apply commits ops in one transaction; see the package doc.
func (s *Store) Apply(ctx context.Context, ops []store.Op) ([]error, error) {
	if s.closed.Load() {
		return nil, s.errClosed()
	}
	if len(ops) == 0 {
		return []error{}, ctx.Err()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, s.readErr(ctx, "connect", err)
	}
	defer c.Release()
	// Once begun, the transaction runs to its end: a commit is never cut
	// in half by the caller's cancellation.
	tctx := context.WithoutCancel(ctx)
	conn := c.Conn()
	slow := make([]bool, len(ops))
	bulk, savepoints := !s.noBulk, false
	for attempt := 1; ; attempt++ {
		errs, err := s.applyTx(tctx, conn, ops, slow, bulk, savepoints)
		if err == nil {
			return errs, nil
		}
		if errors.Is(err, errBulk) {
			// The ops applied together did not all apply: op by op now
			// (the transaction was rolled back).
			bulk = false
			attempt--
			continue
		}
		if errors.Is(err, errRedo) {
			// An op failed in a batch applied without savepoints: the
			// batch is applied again with them (the transaction was
			// rolled back).
			savepoints = true
			attempt--
			continue
		}
		if conn.PgConn().TxStatus() != 'I' && !conn.IsClosed() {
			if _, rerr := conn.Exec(tctx, "ROLLBACK"); rerr != nil {
				return nil, errors.Join(err, s.wrapDB("rollback", rerr))
			}
		}
		var rt *retryTx
		if !errors.As(err, &rt) || attempt >= maxTxAttempts {
			return nil, err
		}
		s.retries.Add(1)
		time.Sleep(time.Duration(rand.N(attempt*2+1)) * time.Millisecond)
	}
}

// errRedo asks Apply to apply a batch again with a savepoint per op: an op
// failed in the batch applied without them.
var errRedo = errors.New("pgstore: apply the batch again with savepoints")

// applyTx runs one attempt of Apply's transaction. slow[i] asks op i for
// the path without optimistic assumptions (and is set when the optimistic
// path fails). Without savepoints, the first op that fails rolls the
// transaction back and applyTx returns errRedo; with them, each op of a
// batch of several runs inside a savepoint, so that a failed op is rolled
// back alone.
func (s *Store) applyTx(ctx context.Context, conn *pgx.Conn, ops []store.Op, slow []bool, bulk, savepoints bool) ([]error, error) {
	w := &wtx{s: s, ctx: ctx, conn: conn, op: -1, sentOp: -1}
	n := len(ops)
	errs := make([]error, n)
	wakes := make([]Wake, n)
	single := n == 1 || !savepoints
	runIDs, instances, commits := lockSet(ops)
	w.begin(runIDs, instances, commits)
	var inBulk []bool // the ops bulkFused took
	if bulk && !savepoints && n >= minBulk {
		inBulk = w.bulkFused(ops, slow, wakes)
	}
	for i := 0; ; {
		var err error
		if i < n && inBulk != nil && inBulk[i] {
			i++
			continue
		}
		if i == n {
			var wake Wake
			for j := range ops {
				if errs[j] == nil {
					wake |= wakes[j]
				}
			}
			w.op = -1
			if wake != 0 {
				w.exec(`SELECT pg_notify($1, $2)`, s.channel, payload(wake))
			}
			w.exec("COMMIT")
			if err = w.flush(); err == nil {
				return errs, nil
			}
		} else {
			w.op = i
			wakes[i] = 0
			if !single {
				w.exec("SAVEPOINT op")
			}
			if err = w.applyOp(ops[i], slow[i], &wakes[i]); err == nil {
				if !single {
					w.exec("RELEASE SAVEPOINT op")
				}
				i++
				continue
			}
		}
		// An op failed.
		if errors.Is(err, errBulk) {
			w.queue = nil
			if _, rerr := conn.Exec(ctx, "ROLLBACK"); rerr != nil {
				return nil, s.wrapDB("rollback", rerr)
			}
			return nil, errBulk
		}
		var f *opFail
		var rt *retryTx
		var de *dbErr
		switch {
		case errors.As(err, &rt), errors.As(err, &de):
			return nil, err
		case errors.As(err, &f):
			// Raised by the server: the pipeline stopped at the failed
			// statement of op f.op, and nothing of it remains queued.
			if f.op < 0 || f.op >= n {
				return nil, s.wrapDB("transaction", err)
			}
		case i < n:
			// Refused by the op's Go code.
			f = &opFail{op: i, err: err}
			if !w.dropOp(i) {
				// Nothing of it reached the server.
				resetOutputs(ops[i])
				if n == 1 {
					if !w.sent {
						return []error{err}, nil
					}
					w.exec("ROLLBACK")
					if ferr := w.flush(); ferr != nil {
						return nil, ferr
					}
					return []error{err}, nil
				}
				errs[i] = err
				i++
				continue
			}
		default:
			return nil, s.wrapDB("commit", err)
		}
		j := f.op
		resetOutputs(ops[j])
		if n > 1 && !savepoints {
			w.queue = nil
			if _, rerr := conn.Exec(ctx, "ROLLBACK"); rerr != nil {
				return nil, s.wrapDB("rollback", rerr)
			}
			if errors.Is(f.err, errSlowPath) {
				slow[j] = true
			}
			return nil, errRedo
		}
		if single {
			w.queue = nil
			if _, rerr := conn.Exec(ctx, "ROLLBACK"); rerr != nil {
				return nil, s.wrapDB("rollback", rerr)
			}
			if errors.Is(f.err, errSlowPath) && !slow[j] {
				slow[j] = true
				w.sent, w.sentOp = false, -1
				w.begin(runIDs, instances, commits)
				i = 0
				continue
			}
			errs[j] = f.err
			return errs, nil
		}
		// Back to the op's savepoint; the ops after it run again.
		w.queue = nil
		if _, rerr := conn.Exec(ctx, "ROLLBACK TO SAVEPOINT op; RELEASE SAVEPOINT op"); rerr != nil {
			return nil, s.wrapDB("rollback to savepoint", rerr)
		}
		w.sentOp = j - 1
		for k := j; k < n; k++ {
			errs[k] = nil
		}
		if errors.Is(f.err, errSlowPath) && !slow[j] {
			slow[j] = true
			i = j
			continue
		}
		if errors.Is(f.err, errSlowPath) {
			return nil, s.wrapDB("apply", errors.New("the slow path of an op asked for itself"))
		}
		errs[j] = f.err
		i = j + 1
	}
}

// lockRunsSQL locks, in one order for every transaction (by run id), the
// runs that the ops of a batch write to, so that two batches that touch
// the same runs in different orders wait for each other instead of
// deadlocking. The ops lock each run again as they go; that costs nothing
// more than a check once the lock is held. One statement takes them all,
// so that the order holds across run ids and instances.
//
// Each run is looked up by its key, in a nested loop over the ids (sorted
// by the caller): a list of ids compared with ANY would be planned, on a
// new database whose tables were small when the connection first ran the
// statement, as a scan of the whole table. (LIMIT 1 keeps PostgreSQL from
// turning a lookup by instance into a join, planned the same way.)
const (
	lockRunsSQL = `SELECT 1 FROM unnest($1::text[]) AS x(id),
		LATERAL (SELECT 1 FROM runs WHERE run_id = x.id FOR UPDATE) AS l`
	lockInstancesSQL = `SELECT 1 FROM (SELECT r.run_id FROM unnest($1::text[]) AS x(id),
			LATERAL (SELECT run_id FROM runs WHERE instance_id = x.id AND is_current LIMIT 1) AS r ORDER BY r.run_id) AS x,
		LATERAL (SELECT 1 FROM runs WHERE run_id = x.run_id FOR UPDATE) AS l`
	lockBothSQL = `SELECT 1 FROM (SELECT id FROM unnest($1::text[]) AS x(id) UNION
			SELECT r.run_id FROM unnest($2::text[]) AS x(id),
				LATERAL (SELECT run_id FROM runs WHERE instance_id = x.id AND is_current LIMIT 1) AS r ORDER BY 1) AS x(id),
		LATERAL (SELECT 1 FROM runs WHERE run_id = x.id FOR UPDATE) AS l`
)

// begin queues BEGIN and, when the ops write to more than one run or
// commit a workflow task (always), the lock of those runs. A commit reads
// the run's inbox in the statement that updates the run (its ready_at
// comes from the messages left): with the run locked first, the snapshot
// of that statement has every message sent to the run, since a sender
// locks the run too.
func (w *wtx) begin(runIDs, instances []string, always bool) {
	w.op = -1
	w.exec("BEGIN")
	switch {
	case len(runIDs)+len(instances) == 0, len(runIDs)+len(instances) == 1 && !always:
	case len(instances) == 0:
		w.exec(lockRunsSQL, runIDs)
	case len(runIDs) == 0:
		w.exec(lockInstancesSQL, instances)
	default:
		w.exec(lockBothSQL, runIDs, instances)
	}
}

// lockSet returns the runs that ops write to (by run id, sorted, or by
// instance id for the current run of an instance), as far as the ops name
// them, and whether one of the ops is a workflow task's commit.
func lockSet(ops []store.Op) (runIDs, instances []string, commits bool) {
	seenRun, seenInst := map[string]bool{}, map[string]bool{}
	run := func(id string) {
		if id != "" && !seenRun[id] {
			seenRun[id] = true
			runIDs = append(runIDs, id)
		}
	}
	inst := func(id string) {
		if id != "" && !seenInst[id] {
			seenInst[id] = true
			instances = append(instances, id)
		}
	}
	send := func(m *store.MessageSendOp) {
		if m == nil {
			return
		}
		if m.RunID != "" {
			run(m.RunID)
		} else {
			inst(m.InstanceID)
		}
	}
	var commit func(c *store.WorkflowTaskCommitOp)
	create := func(c *store.RunCreateOp) {
		if c == nil {
			return
		}
		inst(c.Run.InstanceID)
		if c.Then != nil {
			commit(c.Then)
		}
	}
	commit = func(c *store.WorkflowTaskCommitOp) {
		run(c.RunID)
		for _, m := range c.Messages {
			send(m)
		}
		for _, r := range c.NewRuns {
			create(r)
		}
	}
	for _, op := range ops {
		switch op := op.(type) {
		case *store.RunCreateOp:
			create(op)
		case *store.MessageSendOp:
			send(op)
		case *store.WorkflowTaskCommitOp:
			commit(op)
			commits = true
		case *store.WorkflowTaskAbandonOp:
			run(op.RunID)
		case *store.ActivityTaskFinishOp:
			run(op.RunID)
			if op.Then != nil {
				commit(op.Then)
			}
		case *store.ActivityTaskRetryOp:
			run(op.RunID)
		case *store.ActivityTaskPendOp:
			run(op.RunID)
		case *store.ActivityTaskHeartbeatOp:
			run(op.RunID)
		}
	}
	slices.Sort(runIDs)
	return runIDs, instances, commits
}

// applyOp queues the statements of op. slow asks for the path without
// optimistic assumptions; wake collects the kinds of work the op makes.
func (w *wtx) applyOp(op store.Op, slow bool, wake *Wake) error {
	resetOutputs(op)
	switch op := op.(type) {
	case *store.RunCreateOp:
		return w.createTop(op, slow, wake)
	case *store.MessageSendOp:
		w.send(op, "", wake)
		return nil
	case *store.WorkflowTaskCommitOp:
		return w.commit(op, wake)
	case *store.WorkflowTaskAbandonOp:
		return w.abandon(op, wake)
	case *store.ActivityTaskFinishOp:
		return w.activityFinish(op, slow, wake)
	case *store.ActivityTaskRetryOp:
		return w.activityRetry(op, wake)
	case *store.ActivityTaskPendOp:
		return w.activityPend(op, wake)
	case *store.ActivityTaskHeartbeatOp:
		return w.activityHeartbeat(op)
	case nil:
		return errors.New("pgstore: nil op")
	default:
		return fmt.Errorf("pgstore: unsupported op %T", op)
	}
}

// resetOutputs clears the out fields of op before it is applied (again).
func resetOutputs(op store.Op) {
	switch op := op.(type) {
	case *store.RunCreateOp:
		resetCreate(op)
	case *store.MessageSendOp:
		op.ResultRunID = ""
	case *store.WorkflowTaskCommitOp:
		resetCommit(op)
	case *store.ActivityTaskFinishOp:
		op.Claimed, op.ThenApplied = nil, false
		if op.Then != nil {
			resetCommit(op.Then)
		}
	}
}

func resetCreate(op *store.RunCreateOp) {
	op.Result, op.Created, op.Claimed, op.ThenApplied, op.Err = nil, false, nil, false, nil
	if op.Then != nil {
		resetCommit(op.Then)
	}
}

func resetCommit(op *store.WorkflowTaskCommitOp) {
	op.Claimed = nil
	for _, c := range op.NewRuns {
		if c != nil {
			resetCreate(c)
		}
	}
	for _, m := range op.Messages {
		if m != nil {
			m.ResultRunID = ""
		}
	}
}
