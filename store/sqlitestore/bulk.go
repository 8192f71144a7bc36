package sqlitestore

import (
	"database/sql"
	"errors"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/perdure/perdure/store"
)

// Under load, a batch holds many workflow task outcomes, one per run:
// activity results with the task they wake (fused dispatch) and commits
// of claimed tasks. Op by op, each costs about five statements (a read of
// the run, the history insert, the run's update, the next task's insert,
// the delete of the finished task or of the consumed message), and a
// statement's fixed cost through database/sql and the driver is most of
// what such a small one costs. bulkApply applies them together: one read
// of their runs (and tasks) per kind, then each table written by one
// statement for all of them.
//
// The read answers, in Go, every question the op-by-op path asks (the
// attempt fence, the deadline, the lease owner, the run's status, history
// length and ready time): an op that would not apply exactly as it does
// on that path, or that does something rarer (messages, children,
// cancellations, a suspended run), is left to it, where it meets its own
// outcome. The statements that follow cannot fail for an op that passed;
// if one writes fewer rows than the ops say (a database that is not as
// the read saw it), errBulk rolls the pass back and the batch is applied
// again without bulkApply.
//
// An op is taken only when no other op of the batch names its run or its
// instance, so applying it before the others keeps the batch's order
// wherever it matters.

// minBulk is the fewest ops worth the bulk statements.
const minBulk = 2

// bulkRows bounds the rows of one multi-row statement.
const bulkRows = 64

// rowsPer returns how many of n rows go in the next statement: the
// largest power of two up to n and bulkRows, so that each statement is
// prepared in at most 7 forms (a form of 64 rows is a program of tens of
// kilobytes, kept as long as the store is open).
func rowsPer(n int) int {
	return 1 << (bits.Len(uint(min(n, bulkRows))) - 1)
}

// errBulk rolls back a pass whose bulk statements did not write what the
// reads promised; the batch is applied again op by op.
var errBulk = errors.New("sqlitestore: the ops applied together did not all apply")

// zeroMicros is the zero time.Time as stored.
var zeroMicros = micros(time.Time{})

// multiSQL is a statement with a list of n rows (n a power of two up to
// bulkRows): head, then row n times separated by commas, then tail.
type multiSQL struct {
	head, row, tail string

	mu  sync.Mutex
	byN [bulkRows + 1]string
}

func (m *multiSQL) text(n int) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byN[n] == "" {
		m.byN[n] = m.head + strings.TrimSuffix(strings.Repeat(m.row+", ", n), ", ") + m.tail
	}
	return m.byN[n]
}

var (
	// bulkReadSQL reads, for each (run id, seq), the task and its run.
	bulkReadSQL = &multiSQL{head: `SELECT v.column1, t.rowid, t.state, t.attempt, t.deadline,
			r.instance_id, r.name, r.task_queue, r.status, r.history_len, r.lease_owner, r.lease_until, r.ready_at
		FROM (VALUES `, row: `(?, ?)`, tail: `) AS v
		JOIN activity_tasks t ON t.run_id = v.column1 AND t.seq = v.column2
		JOIN runs r ON r.run_id = v.column1`}
	bulkDeleteTasksSQL = &multiSQL{head: `DELETE FROM activity_tasks WHERE rowid IN (`, row: `?`, tail: `)`}
	// bulkDeleteKeyedTasksSQL deletes tasks by (run id, seq).
	bulkDeleteKeyedTasksSQL = &multiSQL{head: `DELETE FROM activity_tasks WHERE rowid IN (SELECT t.rowid FROM (VALUES `, row: `(?, ?)`,
		tail: `) AS v JOIN activity_tasks t ON t.run_id = v.column1 AND t.seq = v.column2)`}
	bulkHistorySQL  = &multiSQL{head: `INSERT INTO history (run_id, id, type, time, data, first_id, chunk) VALUES `, row: `(?, ?, ?, ?, ?, ?, ?)`}
	bulkReadRunsSQL = &multiSQL{head: `SELECT ` + runCols + ` FROM runs WHERE run_id IN (`, row: `?`, tail: `)`}
	// bulkConsumedSQL deletes consumed messages, each of its run.
	bulkConsumedSQL = &multiSQL{head: `DELETE FROM messages WHERE rowid IN (SELECT m.id FROM (VALUES `, row: `(?, ?)`,
		tail: `) AS v JOIN messages m ON m.id = v.column1 AND m.run_id = v.column2)`}
	bulkCurrentSQL = &multiSQL{head: `SELECT instance_id FROM runs WHERE is_current = 1 AND instance_id IN (`, row: `?`, tail: `)`}
	bulkNewRunsSQL = &multiSQL{head: `INSERT INTO runs (` + runCols + `) VALUES `,
		row: `(?, ?, ?, ?, 1, ?, NULL, NULL, NULL, ?, ?, ?, ?, ?, ?, ?, ?, 0, '', ?, ?, ?, NULL)`, tail: ` ON CONFLICT DO NOTHING`}
	// bulkFreshRunsSQL inserts runs as their first workflow task leaves
	// them (newRunArgs).
	bulkFreshRunsSQL      = &multiSQL{head: `INSERT INTO runs (` + runCols + `) VALUES `, row: newRunRowSQL, tail: ` ON CONFLICT DO NOTHING`}
	bulkNewMessagesSQL    = &multiSQL{head: `INSERT INTO messages (run_id, type, visible_at, control, data) VALUES `, row: `(?, ?, ?, ?, ?)`}
	bulkDeleteMessagesSQL = &multiSQL{head: `DELETE FROM messages WHERE run_id IN (`, row: `?`, tail: `)`}
	bulkDeleteRunTasksSQL = &multiSQL{head: `DELETE FROM activity_tasks WHERE run_id IN (`, row: `?`, tail: `)`}
	bulkNewTasksSQL       = &multiSQL{head: `INSERT INTO activity_tasks (` + taskCols + `, due_at) VALUES `,
		row: `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, tail: ` ON CONFLICT (run_id, seq) DO NOTHING`}
)

// bulkItem is a workflow task outcome bulkApply applies: c on run r,
// for op, which is c itself or the fused result whose Then is c.
type bulkItem struct {
	i     int // the index of op in the batch
	op    store.Op
	c     *store.WorkflowTaskCommitOp
	r     *runRow
	full  bool // r is the whole row (not only what bulkReadSQL reads); a fused result's task is known by run and seq
	fused bool
	rowid int64       // the fused result's activity task, when not full
	added []taskFence // the tasks c schedules, as bulkWrite inserts them
}

// bulkApply applies the workflow task outcomes of ops that go together
// (see above) and returns which ops it applied; nil when none.
func (w *wtx) bulkApply(ops []store.Op) ([]bool, error) {
	if len(ops) < minBulk {
		return nil, nil
	}
	runs, insts := map[string]int{}, map[string]int{}
	for _, op := range ops {
		r, i := names(op)
		for _, id := range r {
			runs[id]++
		}
		for _, id := range i {
			insts[id]++
		}
	}
	var fused, commits, starts []int
	for i, op := range ops {
		switch op := op.(type) {
		case *store.ActivityTaskFinishOp:
			if c := op.Then; c != nil && c.RunID == op.RunID && c.InstanceID != "" &&
				runs[op.RunID] == 1 && insts[c.InstanceID] == 0 && simpleOutcome(c) {
				fused = append(fused, i)
			}
		case *store.WorkflowTaskCommitOp:
			if op.LeaseOwner != "" && op.InstanceID != "" && runs[op.RunID] == 1 && insts[op.InstanceID] == 0 && simpleOutcome(op) {
				commits = append(commits, i)
			}
		case *store.RunCreateOp:
			in := &op.Run
			if in.InstanceID != "" && in.RunID != "" && in.Name != "" && runs[in.RunID] == 1 && insts[in.InstanceID] == 1 &&
				(op.Then == nil && op.Eager == nil || freshOutcome(op)) {
				starts = append(starts, i)
			}
		}
	}
	done := make([]bool, len(ops))
	n := 0
	if len(fused)+len(commits) >= minBulk {
		items, err := w.bulkFused(ops, fused)
		if err != nil {
			return nil, err
		}
		more, err := w.bulkCommits(ops, commits)
		if err != nil {
			return nil, err
		}
		if items = append(items, more...); len(items) >= minBulk {
			if err := w.bulkWrite(items); err != nil {
				return nil, err
			}
			for _, it := range items {
				done[it.i] = true
			}
			n += len(items)
		}
	}
	if len(starts) >= minBulk {
		k, err := w.bulkStarts(ops, starts, done)
		if err != nil {
			return nil, err
		}
		n += k
	}
	if n == 0 {
		return nil, nil
	}
	w.s.bulked.Add(int64(n))
	return done, nil
}

// freshOutcome reports whether the start op goes together with others
// with its first workflow task fused (see createRun and commitRunAs): a
// simple outcome that leaves the new run waiting, and neither leased nor
// claimable (a new run has no inbox).
func freshOutcome(op *store.RunCreateOp) bool {
	c := op.Then
	if !fusedStart(op) || c.InstanceID != op.Run.InstanceID || !simpleOutcome(c) || c.Status.Finished() {
		return false
	}
	// The new run's row has no lease and no ready_at, and its inbox is
	// empty: c.Eager leases nothing (leasable is false), as in
	// commitRunAs.
	return true
}

// bulkStarts creates the runs of the starts ops[cand] whose instances
// have no current run, as createRun would create them (with the outcome
// of their first workflow task when it is fused), and marks them in done;
// it returns how many.
func (w *wtx) bulkStarts(ops []store.Op, cand []int, done []bool) (int, error) {
	current := map[string]bool{}
	for part := range chunks(cand) {
		args := make([]any, 0, len(part))
		for _, i := range part {
			args = append(args, ops[i].(*store.RunCreateOp).Run.InstanceID)
		}
		insts, err := collect(w, "bulk read", func(sc scanner) (string, error) {
			var id string
			return id, sc.Scan(&id)
		}, bulkCurrentSQL.text(len(part)), args...)
		if err != nil {
			return 0, err
		}
		for _, id := range insts {
			current[id] = true
		}
	}
	var take []int
	var runArgs, msgArgs, freshArgs, history, tasks []any
	for _, i := range cand {
		op := ops[i].(*store.RunCreateOp)
		if current[op.Run.InstanceID] {
			continue // the op's own path: idempotent, a conflict, or a new run after a finished one
		}
		r := newRunRow(&op.Run)
		if c := op.Then; c != nil {
			// The run goes in as its first task leaves it; the start
			// message goes straight to history.
			fr := *r
			fr.afterTask(c)
			freshArgs = append(freshArgs, newRunArgs(&fr)...)
			history = historyArgs(history, r.RunID, c.NewEvents)
			var fences []taskFence
			for _, a := range c.NewActivities {
				t, _ := store.NewActivityTask(r.InstanceID, r.RunID, a) // checked by simpleOutcome
				tasks = append(tasks, taskArgs(t)...)
				fences = append(fences, fenceOf(t))
			}
			c.Consumed = nil
			op.ThenApplied = true
			if k := newRunEntry(&fr, fences); k != nil {
				w.bulkKept = append(w.bulkKept, k)
			}
		} else {
			r.readyAt = sql.NullInt64{Int64: micros(op.Start.VisibleAt), Valid: true}
			runArgs = append(runArgs, r.RunID, r.InstanceID, r.Name, string(r.Status), blob(r.Input),
				r.ParentInstanceID, r.ParentRunID, r.ParentSeq, r.PreviousRunID, r.TaskQueue,
				micros(r.CreatedAt), micros(r.UpdatedAt), micros(r.CompletedAt), r.leaseOwner, micros(r.leaseUntil), r.readyAt)
			m := &op.Start
			msgArgs = append(msgArgs, r.RunID, m.Type, micros(m.VisibleAt), boolInt(m.Control), blob(m.Data))
		}
		op.Start.RunID = r.RunID
		op.Result, op.Created = r.public(), true
		w.bulkTouched = append(w.bulkTouched, r.RunID)
		take = append(take, i)
	}
	if len(take) == 0 {
		return 0, nil
	}
	if err := w.bulkExec(bulkNewRunsSQL, runArgs, 16, true); err != nil {
		return 0, err
	}
	if err := w.bulkExec(bulkNewMessagesSQL, msgArgs, 5, true); err != nil {
		return 0, err
	}
	if err := w.bulkExec(bulkFreshRunsSQL, freshArgs, 22, true); err != nil {
		return 0, err
	}
	if err := w.bulkExec(bulkHistorySQL, history, 7, false); err != nil {
		return 0, err
	}
	if err := w.bulkExec(bulkNewTasksSQL, tasks, 19, true); err != nil {
		return 0, err
	}
	for _, i := range take {
		done[i] = true
	}
	return len(take), nil
}

// bulkFused reads the tasks and runs of the fused results ops[cand] and
// returns those that apply as fused results, exactly as activityFinish
// and commitRun would apply them.
func (w *wtx) bulkFused(ops []store.Op, cand []int) ([]bulkItem, error) {
	type found struct {
		rowid   int64 // 0 when cached
		state   string
		attempt int
		dead    int64
		run     runRow
		cached  bool // from the run cache: the whole row, the task known by run and seq
	}
	got := make(map[string]*found, len(cand))
	// The runs the cache kept whole, with the task: no need to read them.
	var read []int
	for _, i := range cand {
		f := ops[i].(*store.ActivityTaskFinishOp)
		if e := w.bulkPrev[f.RunID]; e != nil {
			if k := slices.IndexFunc(e.tasks, func(t taskFence) bool { return t.seq == f.Seq }); k >= 0 {
				t := e.tasks[k]
				got[f.RunID] = &found{state: t.state, attempt: t.attempt, dead: t.deadline, run: e.row, cached: true}
				continue
			}
		}
		read = append(read, i)
	}
	w.s.bulkReads.Add(int64(len(read)))
	for part := range chunks(read) {
		args := make([]any, 0, 2*len(part))
		for _, i := range part {
			f := ops[i].(*store.ActivityTaskFinishOp)
			args = append(args, f.RunID, f.Seq)
		}
		rows, err := w.query(bulkReadSQL.text(len(part)), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var g found
			var runID, status string
			var leaseUntil int64
			if err := rows.Scan(&runID, &g.rowid, &g.state, &g.attempt, &g.dead,
				&g.run.InstanceID, &g.run.Name, &g.run.TaskQueue, &status, &g.run.HistoryLen, &g.run.leaseOwner, &leaseUntil, &g.run.readyAt); err != nil {
				rows.Close()
				return nil, w.s.wrapDB("bulk read", err)
			}
			g.run.RunID, g.run.Status, g.run.leaseUntil = runID, store.Status(status), fromMicros(leaseUntil)
			got[runID] = &g
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return nil, w.s.wrapDB("bulk read", err)
		}
	}
	var items []bulkItem
	for _, i := range cand {
		f := ops[i].(*store.ActivityTaskFinishOp)
		g := got[f.RunID]
		if g == nil {
			continue // no task or no run: the op's own path says which
		}
		t := store.ActivityTask{RunID: f.RunID, Seq: f.Seq, State: store.ActivityState(g.state), Attempt: g.attempt, Deadline: fromMicros(g.dead)}
		if fence(&t, f.Attempt) != nil || (f.RequireUnexpired && expired(&t, f.Now) != nil) {
			continue
		}
		r, c := &g.run, f.Then
		if r.Status.Finished() || !fusable(r, c, f.Message.VisibleAt) || r.InstanceID != c.InstanceID ||
			micros(r.leaseUntil) > zeroMicros {
			continue
		}
		if !c.Status.Finished() && c.Eager != nil {
			// The task leaves ready_at as it is: a lease after it is
			// known now. Leasing needs the whole run, which this read
			// does not have: the op's own path does it.
			after := *r
			after.leaseOwner, after.leaseUntil = "", time.Time{}
			if c.Status != "" {
				after.Status = c.Status
			}
			if leasable(&after, c.Eager, nil) {
				continue
			}
		}
		items = append(items, bulkItem{i: i, op: f, c: c, r: r, full: g.cached, fused: true, rowid: g.rowid})
	}
	return items, nil
}

// bulkCommits reads the runs of the commits ops[cand] and returns those
// that apply, exactly as commit would apply them.
func (w *wtx) bulkCommits(ops []store.Op, cand []int) ([]bulkItem, error) {
	got := make(map[string]*runRow, len(cand))
	for part := range chunks(cand) {
		args := make([]any, 0, len(part))
		for _, i := range part {
			args = append(args, ops[i].(*store.WorkflowTaskCommitOp).RunID)
		}
		rows, err := collect(w, "bulk read", scanRun, bulkReadRunsSQL.text(len(part)), args...)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			got[r.RunID] = r
		}
	}
	var items []bulkItem
	for _, i := range cand {
		c := ops[i].(*store.WorkflowTaskCommitOp)
		r := got[c.RunID]
		if r == nil || r.leaseOwner == "" || r.leaseOwner != c.LeaseOwner || r.InstanceID != c.InstanceID ||
			r.HistoryLen != c.HistoryLen || r.Status.Finished() || r.Status == store.StatusSuspended {
			continue
		}
		items = append(items, bulkItem{i: i, op: c, c: c, r: r, full: true})
	}
	return items, nil
}

// Ways a run's ready_at changes with a workflow task's outcome.
const (
	readyKeep      = iota // a task that consumes nothing, on a run without lease (fused)
	readyRecompute        // from what is left in the inbox, as the lease is released
	readyNull             // the run finished
)

// runShape is the form of a bulk update of runs.
type runShape struct {
	status bool // the status changes
	ready  int
	// whole: the runs finish, and the bulk item has each one's whole row
	// (bulkItem.full), so that what the update leaves is known without
	// returning it.
	whole bool
}

// runWidth is the number of values of a row of a bulk update of runs:
// run id, updated_at, history_len, output, failure, whether custom_status
// is set, custom_status, waiting, status.
const runWidth = 9

var (
	runShapesMu sync.Mutex
	runShapes   = map[runShape]*multiSQL{}
)

// sql returns the update of runs of shape sh. Only the columns that
// change are set, so that the indexes of the others are not rewritten;
// a recomputed ready_at is returned, and a finished run whole.
func (sh runShape) sql() *multiSQL {
	runShapesMu.Lock()
	defer runShapesMu.Unlock()
	if m := runShapes[sh]; m != nil {
		return m
	}
	set := `UPDATE runs SET updated_at = v.column2, history_len = v.column3, task_error = '',
		lease_owner = '', lease_until = ` + strconv.FormatInt(zeroMicros, 10) + `,
		output = coalesce(v.column4, runs.output), failure = coalesce(v.column5, runs.failure),
		custom_status = CASE WHEN v.column6 THEN v.column7 ELSE runs.custom_status END, waiting = v.column8`
	if sh.status {
		set += `, status = v.column9`
	}
	tail := `) AS v WHERE runs.run_id = v.column1`
	switch sh.ready {
	case readyRecompute:
		// No bulk item leaves its run SUSPENDED: every message can wake it.
		set += `, ready_at = (SELECT MIN(visible_at) FROM messages WHERE run_id = runs.run_id)`
		tail += ` RETURNING runs.run_id, runs.ready_at`
	case readyNull:
		// The finished run is handed to its waiters, as commitRun does:
		// returned, unless the item has it whole.
		set += `, completed_at = v.column2, ready_at = NULL`
		if !sh.whole {
			tail += ` RETURNING ` + returningRunCols
		}
	}
	m := &multiSQL{head: set + `
		FROM (VALUES `, row: `(` + strings.TrimSuffix(strings.Repeat(`?, `, runWidth), `, `) + `)`, tail: tail}
	runShapes[sh] = m
	return m
}

// bulkWrite writes items, on runs of their own.
func (w *wtx) bulkWrite(items []bulkItem) error {
	var rowids, keyed, consumed, history, newTasks, finished []any
	var shapes []runShape
	byShape := map[runShape][]any{}
	byRun := make(map[string]*bulkItem, len(items))
	for k := range items {
		it := &items[k]
		c, r := it.c, it.r
		byRun[r.RunID] = it
		if it.fused {
			if it.full {
				keyed = append(keyed, r.RunID, it.op.(*store.ActivityTaskFinishOp).Seq)
			} else {
				rowids = append(rowids, it.rowid)
			}
			c.Consumed = nil
		}
		for _, id := range c.Consumed {
			consumed = append(consumed, id, r.RunID)
		}
		history = historyArgs(history, r.RunID, c.NewEvents)
		fin := c.Status.Finished()
		sh := runShape{status: c.Status != "" && c.Status != r.Status, ready: readyKeep}
		if micros(r.leaseUntil) > zeroMicros || len(c.Consumed) > 0 {
			sh.ready = readyRecompute
		}
		if fin {
			sh.ready, sh.whole = readyNull, it.full
			finished = append(finished, r.RunID)
		} else {
			for _, a := range c.NewActivities {
				t, _ := store.NewActivityTask(r.InstanceID, r.RunID, a) // checked by simpleOutcome
				newTasks = append(newTasks, taskArgs(t)...)
				it.added = append(it.added, fenceOf(t))
			}
		}
		// The run as commitRun leaves it.
		r.afterTask(c)
		if fin {
			r.readyAt.Valid = false
		}
		if _, ok := byShape[sh]; !ok {
			shapes = append(shapes, sh)
		}
		byShape[sh] = append(byShape[sh], r.RunID, micros(r.UpdatedAt), r.HistoryLen, blob(c.Output), blob(c.Failure),
			boolInt(c.CustomStatus != nil || c.SetCustom), blob(c.CustomStatus), blob(r.Waiting), string(r.Status))
	}
	if err := w.bulkExec(bulkDeleteTasksSQL, rowids, 1, true); err != nil {
		return err
	}
	if err := w.bulkExec(bulkDeleteKeyedTasksSQL, keyed, 2, true); err != nil {
		return err
	}
	if err := w.bulkExec(bulkConsumedSQL, consumed, 2, false); err != nil {
		return err
	}
	if err := w.bulkExec(bulkHistorySQL, history, 7, false); err != nil {
		return err
	}
	for _, sh := range shapes {
		args := byShape[sh]
		if sh.ready == readyKeep || sh.whole {
			if err := w.bulkExec(sh.sql(), args, runWidth, true); err != nil {
				return err
			}
			continue
		}
		for len(args) > 0 {
			n := rowsPer(len(args) / runWidth)
			rows, err := w.query(sh.sql().text(n), args[:n*runWidth]...)
			if err != nil {
				return err
			}
			seen := 0
			for rows.Next() {
				if sh.ready == readyNull {
					r, err := scanRun(rows)
					if err != nil {
						rows.Close()
						return w.s.wrapDB("bulk update", err)
					}
					if it := byRun[r.RunID]; it != nil {
						it.c.Finished = r.public()
						seen++
					}
					continue
				}
				var runID string
				var ready sql.NullInt64
				if err := rows.Scan(&runID, &ready); err != nil {
					rows.Close()
					return w.s.wrapDB("bulk update", err)
				}
				if it := byRun[runID]; it != nil {
					it.r.readyAt = ready
					seen++
				}
			}
			if err := errors.Join(rows.Err(), rows.Close()); err != nil {
				return w.s.wrapDB("bulk update", err)
			}
			if seen != n {
				return errBulk
			}
			args = args[n*runWidth:]
		}
	}
	if err := w.bulkExec(bulkDeleteMessagesSQL, finished, 1, false); err != nil {
		return err
	}
	if err := w.bulkExec(bulkDeleteRunTasksSQL, finished, 1, false); err != nil {
		return err
	}
	if err := w.bulkExec(bulkNewTasksSQL, newTasks, 19, true); err != nil {
		return err
	}
	// Eager leases of runs whose inbox had messages left (they arrived
	// during the task), as commitRun takes them.
	for k := range items {
		it := &items[k]
		if it.fused || it.r.Status.Finished() {
			continue
		}
		claimed, err := w.eager(it.r, it.c.Eager)
		if err != nil {
			return err
		}
		it.c.Claimed = claimed
	}
	for k := range items {
		it := &items[k]
		if f, ok := it.op.(*store.ActivityTaskFinishOp); ok {
			f.ThenApplied = true
		}
		if it.full && it.r.Status.Finished() {
			// Updated without RETURNING (runShape.whole).
			fr := asStored(it.r)
			it.c.Finished = fr.public()
		}
		w.keepBulkRun(it)
	}
	return nil
}

// keepBulkRun records, for the run cache, the run of it as the bulk
// statements left it: kept when its row is whole, unfinished and not
// leased again.
func (w *wtx) keepBulkRun(it *bulkItem) {
	r, c := it.r, it.c
	w.bulkTouched = append(w.bulkTouched, r.RunID)
	if !it.full || r.Status.Finished() || c.Claimed != nil {
		return
	}
	var done int64
	if f, ok := it.op.(*store.ActivityTaskFinishOp); ok {
		done = f.Seq
	}
	if k := newRunEntry(r, keptTasks(w.bulkPrev[r.RunID], done, nil, it.added)); k != nil {
		w.bulkKept = append(w.bulkKept, k)
	}
}

// historyArgs appends to args the row of bulkHistorySQL that records a
// commit's new events of run runID, consecutive as checkTask checks: the
// event itself, or the chunk of them all (none when there are none).
func historyArgs(args []any, runID string, ev []*store.Event) []any {
	if len(ev) == 1 {
		return append(args, runID, ev[0].ID, ev[0].Type, micros(ev[0].Time), blob(ev[0].Data), nil, nil)
	} else if len(ev) > 1 {
		return append(args, runID, ev[len(ev)-1].ID, "", 0, nil, ev[0].ID, encodeChunk(ev))
	}
	return args
}

// bulkExec runs m over args, rows of width values each, bulkRows rows at
// a time. With exact, each statement must change as many rows as it was
// given, else errBulk.
func (w *wtx) bulkExec(m *multiSQL, args []any, width int, exact bool) error {
	for len(args) > 0 {
		n := rowsPer(len(args) / width)
		res, err := w.exec(m.text(n), args[:n*width]...)
		if err != nil {
			return err
		}
		if exact {
			if k, err := res.RowsAffected(); err != nil {
				return w.s.wrapDB("bulk write", err)
			} else if k != int64(n) {
				return errBulk
			}
		}
		args = args[n*width:]
	}
	return nil
}

// chunks yields s in parts of rowsPer rows.
func chunks(s []int) func(yield func([]int) bool) {
	return func(yield func([]int) bool) {
		for len(s) > 0 {
			n := rowsPer(len(s))
			if !yield(s[:n]) {
				return
			}
			s = s[n:]
		}
	}
}

// simpleOutcome reports whether the workflow task outcome then is one
// bulkApply can write: no messages, children, cancellations or
// carried-over events, not SUSPENDED, and nothing commitRun would refuse
// before it reads the run.
func simpleOutcome(then *store.WorkflowTaskCommitOp) bool {
	if len(then.Messages) > 0 || len(then.NewRuns) > 0 || len(then.CancelActivities) > 0 || then.CarryOverEvents != "" {
		return false
	}
	if then.Status != "" && (!then.Status.Valid() || then.Status == store.StatusSuspended) {
		return false
	}
	for i, e := range then.NewEvents {
		if e == nil || e.ID != then.HistoryLen+int64(i)+1 {
			return false
		}
	}
	if then.Status.Finished() {
		return true
	}
	seqs := make(map[int64]bool, len(then.NewActivities))
	for _, a := range then.NewActivities {
		if a == nil || seqs[a.Seq] {
			return false
		}
		seqs[a.Seq] = true
		if _, err := store.NewActivityTask(then.InstanceID, then.RunID, a); err != nil {
			return false
		}
	}
	return true
}

// names returns the run ids and the instance ids (of messages and starts
// addressed by instance) that op names, each once.
func names(op store.Op) (runs, insts []string) {
	run := func(id string) {
		if id != "" && !slices.Contains(runs, id) {
			runs = append(runs, id)
		}
	}
	inst := func(id string) {
		if id != "" && !slices.Contains(insts, id) {
			insts = append(insts, id)
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
		run(c.Run.RunID)
		if c.Then != nil {
			commit(c.Then)
		}
	}
	commit = func(c *store.WorkflowTaskCommitOp) {
		run(c.RunID)
		run(c.CarryOverEvents)
		for _, m := range c.Messages {
			send(m)
		}
		for _, r := range c.NewRuns {
			create(r)
		}
	}
	switch op := op.(type) {
	case *store.RunCreateOp:
		create(op)
	case *store.MessageSendOp:
		send(op)
	case *store.WorkflowTaskCommitOp:
		commit(op)
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
	return runs, insts
}
