package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/perdure/perdure/store"
)

// wtx runs statements on the writer connection inside a transaction.
type wtx struct {
	s   *Store
	ctx context.Context

	// The run cache (runcache.go): prev holds the runs kept before this
	// write, of prevBytes payload bytes; an Apply of one op (single)
	// reads them as runs. newTasks, ranOn, kept and spoiled are what that
	// op leaves.
	prev, runs map[string]*runEntry
	prevBytes  int
	single     bool
	newTasks   []taskFence
	ranOn      string
	kept       *runEntry
	spoiled    bool

	// An Apply of several ops: the bulk statements read the kept runs as
	// bulkPrev (and the op-by-op paths do not: an op before them in the
	// transaction may have changed a run). allBulk: every op went through
	// them; bulkTouched are the runs they wrote and bulkKept the entries
	// they left.
	bulkPrev    map[string]*runEntry
	allBulk     bool
	bulkTouched []string
	bulkKept    []*runEntry
}

// write runs fn in a BEGIN IMMEDIATE transaction on the writer connection
// and commits it when fn returns nil. The transaction runs to its end even
// if ctx is cancelled once it has begun: a commit is never cut in half.
func (s *Store) write(ctx context.Context, fn func(w *wtx) error) error {
	return s.writeSync(ctx, true, fn)
}

// writeSync is write; with durable false the commit is not fsynced
// (synchronous=NORMAL for that one transaction): it survives a crash of the
// process, not of the machine, and the next durable commit makes it
// durable too. Only workflow task claims use it: a lease is no promise to
// anyone, and the leases of an exclusive store are released at startup.
func (s *Store) writeSync(ctx context.Context, durable bool, fn func(w *wtx) error) error {
	return s.writer(ctx, durable, func(w *wtx) error { return w.tx(fn) })
}

// writer runs fn on the writer connection, outside any transaction: fn
// runs its transactions with tx. With durable false, they are not fsynced
// (see writeSync).
func (s *Store) writer(ctx context.Context, durable bool, fn func(w *wtx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed.Load() {
		return s.errClosed()
	}
	if err := s.unsynced; err != nil {
		return err
	}
	// Every write empties the run cache; an Apply of one op, or of ops
	// that all go through the bulk statements, may use what it held
	// (w.prev) and refill it.
	w := &wtx{s: s, ctx: context.WithoutCancel(ctx), prevBytes: s.runsBytes}
	w.prev = s.takeRuns()
	if !durable {
		if _, err := w.exec("PRAGMA synchronous = NORMAL"); err != nil {
			return err
		}
		defer func() {
			if _, err := w.exec("PRAGMA synchronous = FULL"); err != nil {
				// Never commit again without fsync.
				s.unsynced = fmt.Errorf("sqlitestore %s: durable commits could not be restored after a claim: %w", s.path, err)
			}
		}()
	}
	return fn(w)
}

// tx runs fn in a BEGIN IMMEDIATE transaction and commits it when fn
// returns nil; otherwise it rolls it back.
func (w *wtx) tx(fn func(w *wtx) error) error {
	if _, err := w.exec("BEGIN IMMEDIATE"); err != nil {
		return err
	}
	if err := fn(w); err != nil {
		if _, rerr := w.exec("ROLLBACK"); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	if _, err := w.exec("COMMIT"); err != nil {
		_, _ = w.exec("ROLLBACK")
		return err
	}
	w.s.commits.Add(1)
	return nil
}

// stmt returns q prepared on the writer connection.
func (w *wtx) stmt(q string) (*sql.Stmt, error) {
	if st := w.s.wstmt[q]; st != nil {
		return st, nil
	}
	st, err := w.s.wconn.PrepareContext(w.ctx, q)
	if err != nil {
		return nil, w.s.wrapDB("prepare "+q, err)
	}
	w.s.wstmt[q] = st
	return st, nil
}

func (w *wtx) exec(q string, args ...any) (sql.Result, error) {
	st, err := w.stmt(q)
	if err != nil {
		return nil, err
	}
	res, err := st.ExecContext(w.ctx, args...)
	if err != nil {
		return nil, w.s.wrapDB(q, err)
	}
	return res, nil
}

func (w *wtx) query(q string, args ...any) (*sql.Rows, error) {
	st, err := w.stmt(q)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(w.ctx, args...)
	if err != nil {
		return nil, w.s.wrapDB(q, err)
	}
	return rows, nil
}

// one runs a query that returns at most one row and scans it with scan;
// found is false when there is no row.
func (w *wtx) one(q string, args []any, scan func(sc scanner) error) (found bool, err error) {
	rows, err := w.query(q, args...)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return false, w.s.wrapDB(q, rows.Err())
	}
	if err := scan(rows); err != nil {
		return false, w.s.wrapDB(q, err)
	}
	return true, w.s.wrapDB(q, rows.Close())
}

type scanner interface{ Scan(dest ...any) error }

// Apply commits ops in one transaction. Ops run without savepoints, which
// cost every op a copy of each page it changes (the statement journal) and
// two statements: as long as no op fails, the transaction is committed as
// it is. When op i fails, the transaction is rolled back and run again,
// ops before i as before and every op from i on inside a savepoint of its
// own, so that a failed op leaves no trace. Ops only read and write the
// database, so the ops before i succeed again.
func (s *Store) Apply(ctx context.Context, ops []store.Op) ([]error, error) {
	errs := make([]error, len(ops))
	if len(ops) == 0 {
		if s.closed.Load() {
			return nil, s.errClosed()
		}
		return errs, ctx.Err()
	}
	err := s.writer(ctx, true, func(w *wtx) error {
		// Ops from guarded on run inside savepoints; bulk: workflow task
		// outcomes go through bulkApply.
		guarded, bulk := len(ops), !s.noBulk
		if len(ops) == 1 {
			w.single, w.runs = true, w.prev
		} else {
			w.bulkPrev = w.prev
		}
		for {
			redo := -1
			w.ranOn, w.kept, w.spoiled, w.newTasks = "", nil, false, w.newTasks[:0]
			w.allBulk, w.bulkTouched, w.bulkKept = false, w.bulkTouched[:0], w.bulkKept[:0]
			err := w.tx(func(w *wtx) error {
				// A pass starts from clean outputs, whichever path
				// (bulk or op by op) then applies each op.
				clear(errs)
				for _, op := range ops {
					resetOutputs(op)
				}
				var done []bool
				if bulk {
					var err error
					if done, err = w.bulkApply(ops); err != nil {
						return err
					}
					w.allBulk = done != nil && !slices.Contains(done, false)
				}
				for i, op := range ops {
					switch {
					case done != nil && done[i]:
					case i < guarded:
						if err := w.applyOp(op); err != nil {
							if isDBErr(err) {
								return err
							}
							errs[i], redo = err, i
							return errRedo
						}
					default:
						if err := w.applyGuarded(op, &errs[i]); err != nil {
							return err
						}
					}
				}
				return nil
			})
			switch {
			case err == errBulk:
				bulk = false
			case err == nil && len(ops) == 1:
				if errs[0] == nil {
					s.keepRuns(w)
				}
				return nil
			case err == nil:
				if w.allBulk {
					s.keepBulk(w)
				}
				return nil
			case err != errRedo:
				return err
			case len(ops) == 1:
				// The rollback undid the op: its error is the outcome.
				return nil
			default:
				guarded = redo
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return errs, nil
}

// errRedo rolls back a pass of Apply in which an op failed without a
// savepoint.
var errRedo = errors.New("sqlitestore: an op failed: apply the batch again")

func isDBErr(err error) bool {
	var de *dbErr
	return errors.As(err, &de)
}

// applyGuarded applies op inside a savepoint, rolled back when op fails;
// *opErr is op's outcome, the result an error of the database.
func (w *wtx) applyGuarded(op store.Op, opErr *error) error {
	if _, err := w.exec("SAVEPOINT op"); err != nil {
		return err
	}
	err := w.applyOp(op)
	if isDBErr(err) {
		return err
	}
	if err != nil {
		if _, rerr := w.exec("ROLLBACK TO op"); rerr != nil {
			return rerr
		}
	}
	if _, rerr := w.exec("RELEASE op"); rerr != nil {
		return rerr
	}
	*opErr = err
	return nil
}

// applyOp applies op (Apply has reset its outputs).
func (w *wtx) applyOp(op store.Op) error {
	switch op := op.(type) {
	case *store.RunCreateOp:
		return w.createRun(op)
	case *store.MessageSendOp:
		return w.send(op, "")
	case *store.WorkflowTaskCommitOp:
		return w.commit(op)
	case *store.WorkflowTaskAbandonOp:
		return w.abandon(op)
	case *store.ActivityTaskFinishOp:
		return w.activityFinish(op)
	case *store.ActivityTaskRetryOp:
		return w.activityRetry(op)
	case *store.ActivityTaskPendOp:
		return w.activityPend(op)
	case *store.ActivityTaskHeartbeatOp:
		return w.activityHeartbeat(op)
	case nil:
		return errors.New("sqlitestore: nil op")
	default:
		return fmt.Errorf("sqlitestore: unsupported op %T", op)
	}
}

// collect reads every row of a query inside the write transaction (and
// closes it), so that the rows can be written to before the next query.
func collect[T any](w *wtx, what string, scan func(scanner) (T, error), q string, args ...any) ([]T, error) {
	rows, err := w.query(q, args...)
	if err != nil {
		return nil, err
	}
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			rows.Close()
			return nil, w.s.wrapDB(what, err)
		}
		out = append(out, v)
	}
	if err := rows.Close(); err != nil {
		return nil, w.s.wrapDB(what, err)
	}
	return out, w.s.wrapDB(what, rows.Err())
}

// resetOutputs clears what an earlier, rolled back, pass of Apply set in
// op.
func resetOutputs(op store.Op) {
	switch op := op.(type) {
	case *store.RunCreateOp:
		op.Result, op.Created, op.Claimed, op.ThenApplied, op.Err = nil, false, nil, false, nil
		if op.Then != nil {
			op.Then.Claimed, op.Then.Finished = nil, nil
		}
	case *store.MessageSendOp:
		op.ResultRunID = ""
	case *store.WorkflowTaskCommitOp:
		op.Claimed, op.Finished = nil, nil
	case *store.ActivityTaskFinishOp:
		op.Claimed, op.ThenApplied = nil, false
		if op.Then != nil {
			op.Then.Claimed, op.Then.Finished = nil, nil
		}
	}
}
