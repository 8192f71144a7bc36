package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/perdure/perdure/store"
)

// RunGet is the read of every waiter: a client waiting for a run to
// finish reads it when it starts waiting, after every notification and on
// every poll, so that a node with a thousand waiters makes a thousand
// reads per poll interval. Concurrent RunGet calls are therefore read
// together: while one query is in flight, the calls that arrive queue up,
// and the next query reads all of them (runGetBatch at most), one row
// each, by key. A call alone is read at once, as before.

// runGetBatch bounds the runs read by one query.
const runGetBatch = 256

// runGetSQL reads the current runs of the instances $1 and the runs $2,
// each by its key; the first column is the index of the id in its array,
// positive for $1 and negative for $2.
var runGetSQL = `SELECT x.i, ` + cols("r.", runColList) + ` FROM unnest($1::text[]) WITH ORDINALITY AS x(id, i),
		LATERAL (SELECT * FROM runs WHERE instance_id = x.id AND is_current LIMIT 1) AS r
	UNION ALL
	SELECT -x.i, ` + cols("r.", runColList) + ` FROM unnest($2::text[]) WITH ORDINALITY AS x(id, i),
		LATERAL (SELECT * FROM runs WHERE run_id = x.id) AS r`

// runByInstanceSQL and runByIDSQL read one run, as runGetSQL does.
var (
	runByInstanceSQL = `SELECT 1, ` + runCols + ` FROM runs WHERE instance_id = $1 AND is_current`
	runByIDSQL       = `SELECT -1, ` + runCols + ` FROM runs WHERE run_id = $1`
)

// getReq is one RunGet call waiting for its run.
type getReq struct {
	instanceID, runID string
	run               *runRow
	err               error
	done              chan struct{}
}

// getter queues the RunGet calls and runs their queries, one at a time.
type getter struct {
	mu      sync.Mutex
	queue   []*getReq
	running bool
}

// RunGet returns a run; runID "" means the current run of instanceID.
func (s *Store) RunGet(ctx context.Context, instanceID, runID string) (*store.Run, error) {
	if s.closed.Load() {
		return nil, s.errClosed()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	req := &getReq{instanceID: instanceID, runID: runID, done: make(chan struct{})}
	g := &s.gets
	g.mu.Lock()
	g.queue = append(g.queue, req)
	start := !g.running
	g.running = true
	g.mu.Unlock()
	if start {
		go s.readRuns()
	}
	select {
	case <-req.done:
	case <-ctx.Done():
		// The query goes on for the others; this call's answer is dropped.
		return nil, ctx.Err()
	}
	if req.err != nil {
		return nil, req.err
	}
	r := req.run
	if r == nil || (instanceID != "" && r.InstanceID != instanceID) {
		return nil, fmt.Errorf("instance %q run %q: %w", instanceID, runID, store.ErrNotFound)
	}
	return r.public(), nil
}

// readRuns reads the queued RunGet calls, runGetBatch at a time, until
// none is left.
func (s *Store) readRuns() {
	g := &s.gets
	for {
		g.mu.Lock()
		n := min(len(g.queue), runGetBatch)
		if n == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		batch := g.queue[:n:n]
		g.queue = g.queue[n:]
		if len(g.queue) == 0 {
			g.queue = nil
		}
		g.mu.Unlock()
		s.readBatch(batch)
	}
}

// readBatch reads the runs of batch in one query and answers every call.
func (s *Store) readBatch(batch []*getReq) {
	var insts, ids []string
	byInst, byID := map[string][]*getReq{}, map[string][]*getReq{}
	for _, r := range batch {
		if r.runID == "" {
			if _, ok := byInst[r.instanceID]; !ok {
				insts = append(insts, r.instanceID)
			}
			byInst[r.instanceID] = append(byInst[r.instanceID], r)
		} else {
			if _, ok := byID[r.runID]; !ok {
				ids = append(ids, r.runID)
			}
			byID[r.runID] = append(byID[r.runID], r)
		}
	}
	row := func(rows pgx.Rows) error {
		var i int64
		r := &runRow{}
		dest, finish := runDest(r)
		if err := rows.Scan(append([]any{&i}, dest...)...); err != nil {
			return err
		}
		finish()
		var reqs []*getReq
		switch {
		case i > 0 && int(i) <= len(insts):
			reqs = byInst[insts[i-1]]
		case i < 0 && int(-i) <= len(ids):
			reqs = byID[ids[-i-1]]
		}
		for k, q := range reqs {
			if k > 0 {
				// Each caller has a run of its own.
				c := *r
				c.Input, c.Output, c.Failure = bytes.Clone(r.Input), bytes.Clone(r.Output), bytes.Clone(r.Failure)
				c.CustomStatus, c.Waiting = bytes.Clone(r.CustomStatus), bytes.Clone(r.Waiting)
				q.run = &c
				continue
			}
			q.run = r
		}
		return nil
	}
	var err error
	switch {
	case len(insts) == 1 && len(ids) == 0:
		err = s.read(context.Background(), "run", runByInstanceSQL, []any{insts[0]}, row)
	case len(insts) == 0 && len(ids) == 1:
		err = s.read(context.Background(), "run", runByIDSQL, []any{ids[0]}, row)
	default:
		// In a transaction of its own, for the plan settings.
		err = s.readTx(context.Background(), func(w *wtx) {
			w.exec(planSettingsSQL)
			w.query(runGetSQL, []any{insts, ids}, row)
		})
	}
	for _, q := range batch {
		q.err = err
		close(q.done)
	}
}

// readTx runs the statements fn queues in a read-only transaction, sent
// in one round trip.
func (s *Store) readTx(ctx context.Context, fn func(w *wtx)) error {
	if s.closed.Load() {
		return s.errClosed()
	}
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return s.readErr(ctx, "connect", err)
	}
	defer c.Release()
	conn := c.Conn()
	w := &wtx{s: s, ctx: ctx, conn: conn, op: -1, sentOp: -1}
	w.exec("BEGIN READ ONLY")
	fn(w)
	w.exec("COMMIT")
	if err = w.flush(); err != nil && conn.PgConn().TxStatus() != 'I' && !conn.IsClosed() {
		if _, rerr := conn.Exec(ctx, "ROLLBACK"); rerr != nil {
			return errors.Join(err, s.wrapDB("rollback", rerr))
		}
	}
	return err
}
