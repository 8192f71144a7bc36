package storetest

import (
	"fmt"
	"time"

	"github.com/perdure/perdure/store"
)

var queryCases = []testCase{
	{"RunGet", func(h *harness) {
		old := h.start("i1", "wf", "")
		h.finish("i1", base, store.StatusCompleted)
		cur := h.start("i1", "wf", "")
		eq(h, "current", h.get("i1", "").RunID, cur.RunID)
		eq(h, "explicit old", h.get("i1", old.RunID).RunID, old.RunID)
		eq(h, "explicit old Current", h.get("i1", old.RunID).Current, false)
		eq(h, "by run id alone", h.get("", cur.RunID).InstanceID, "i1")
		h.start("i2", "wf", "")
		isErr(h, "missing instance", getErr(h, "nope", ""), store.ErrNotFound)
		isErr(h, "missing run", getErr(h, "i1", "nope"), store.ErrNotFound)
		isErr(h, "run of another instance", getErr(h, "i2", old.RunID), store.ErrNotFound)
	}},
	{"MissingRun", func(h *harness) {
		_, err := h.S.HistoryGet(h.Ctx, &store.HistoryGetParams{RunID: "nope"})
		isErr(h, "HistoryGet", err, store.ErrNotFound)
		_, err = h.S.MessageList(h.Ctx, "nope")
		isErr(h, "MessageList", err, store.ErrNotFound)
		_, err = h.S.ActivityTaskList(h.Ctx, "nope")
		isErr(h, "ActivityTaskList", err, store.ErrNotFound)
		isErr(h, "ActivityTaskGet", getTaskErr(h, "nope", 1), store.ErrNotFound)
		r := h.start("i1", "wf", "")
		isErr(h, "ActivityTaskGet missing seq", getTaskErr(h, r.RunID, 1), store.ErrNotFound)
		tasks, err := h.S.ActivityTaskList(h.Ctx, r.RunID)
		noErr(h, "ActivityTaskList", err)
		eq(h, "tasks", len(tasks), 0)
		evs, err := h.S.HistoryGet(h.Ctx, &store.HistoryGetParams{RunID: r.RunID})
		noErr(h, "HistoryGet", err)
		eq(h, "events", len(evs), 0)
	}},
	{"ActivityTaskListOrder", func(h *harness) {
		r := h.startActs("i1", act(3, "a", base), act(1, "b", base), act(2, "c", base))
		tasks, err := h.S.ActivityTaskList(h.Ctx, r.RunID)
		noErr(h, "ActivityTaskList", err)
		var got []int64
		for _, t := range tasks {
			got = append(got, t.Seq)
		}
		eq(h, "seqs", fmt.Sprint(got), "[1 2 3]")
	}},
	{"Isolation", func(h *harness) {
		// Returned records are copies: changing them changes nothing stored.
		r := h.start("i1", "wf", `{"a":1}`)
		r.Input[0] = 'X'
		r.Status = store.StatusFailed
		ms := h.messages(r.RunID)
		ms[0].Data[0] = 'X'
		eqBytes(h, "Input", h.get("i1", "").Input, []byte(`{"a":1}`))
		eq(h, "Status", h.get("i1", "").Status, store.StatusPending)
		if h.messages(r.RunID)[0].Data[0] == 'X' {
			h.Fatalf("a returned message shares its Data with the store")
		}
	}},
}

// listFixture creates runs for the RunList cases and returns their run ids
// newest first.
func listFixture(h *harness) []string {
	type spec struct {
		inst, name string
		created    time.Duration
		finish     store.Status
	}
	specs := []spec{
		{"order-1", "order", 1 * time.Second, ""},
		{"order-2", "order", 2 * time.Second, store.StatusCompleted},
		{"ship-1", "ship", 3 * time.Second, ""},
		{"order-3", "order", 4 * time.Second, store.StatusFailed},
		{"order-10", "order", 5 * time.Second, ""},
		{"ship-2", "ship", 6 * time.Second, ""},
	}
	var ids []string
	for _, s := range specs {
		op := h.createOp(s.inst, s.name, "")
		op.Run.CreatedAt = at(s.created)
		h.ok(op)
		ids = append([]string{op.Run.RunID}, ids...)
		if s.finish != "" {
			h.finish(s.inst, at(s.created), s.finish)
		}
	}
	// A second run of order-2 (the first one is no longer current).
	op := h.createOp("order-2", "order", "x")
	op.Run.CreatedAt = at(7 * time.Second)
	h.ok(op)
	return append([]string{op.Run.RunID}, ids...)
}

func (h *harness) list(p store.RunListParams) ([]string, string) {
	h.Helper()
	res, err := h.S.RunList(h.Ctx, &p)
	noErr(h, "RunList", err)
	var ids []string
	for _, r := range res.Runs {
		ids = append(ids, r.RunID)
	}
	return ids, res.NextCursor
}

// listAll pages through RunList with limit and returns all run ids.
func (h *harness) listAll(p store.RunListParams, limit int) []string {
	h.Helper()
	p.Limit = limit
	var all []string
	for page := 0; ; page++ {
		if page > 1000 {
			h.Fatalf("RunList does not end")
		}
		ids, next := h.list(p)
		if len(ids) > limit {
			h.Fatalf("RunList returned %d runs with Limit %d", len(ids), limit)
		}
		all = append(all, ids...)
		if next == "" {
			return all
		}
		p.Cursor = next
	}
}

func pick(ids []string, idx ...int) []string {
	var out []string
	for _, i := range idx {
		out = append(out, ids[i])
	}
	return out
}

var listCases = []testCase{
	{"Counts", func(h *harness) {
		listFixture(h)
		count := func(p store.RunListParams) string {
			h.Helper()
			m, err := h.S.RunCounts(h.Ctx, &p)
			noErr(h, "RunCounts", err)
			return fmt.Sprintf("P%d C%d F%d", m[store.StatusPending], m[store.StatusCompleted], m[store.StatusFailed])
		}
		eq(h, "current runs", count(store.RunListParams{}), "P5 C0 F1")
		eq(h, "all runs", count(store.RunListParams{AllRuns: true}), "P5 C1 F1")
		eq(h, "by name", count(store.RunListParams{Name: "order"}), "P3 C0 F1")
		eq(h, "by prefix", count(store.RunListParams{InstanceID: "order-1*"}), "P2 C0 F0")
		eq(h, "by exact id", count(store.RunListParams{InstanceID: "order-3"}), "P0 C0 F1")
		eq(h, "statuses are ignored", count(store.RunListParams{Statuses: []store.Status{store.StatusFailed}}), "P5 C0 F1")
		eq(h, "time range", count(store.RunListParams{Name: "order", CreatedAfter: at(4 * time.Second), CreatedBefore: at(8 * time.Second)}), "P2 C0 F1")
	}},
	{"Filters", func(h *harness) {
		ids := listFixture(h)
		// ids, newest first: 0 order-2 (second run), 1 ship-2, 2 order-10,
		// 3 order-3 (FAILED), 4 ship-1, 5 order-2 (COMPLETED, not current), 6 order-1.
		all, _ := h.list(store.RunListParams{AllRuns: true})
		eqStrings(h, "all runs", all, ids)
		cur, _ := h.list(store.RunListParams{})
		eqStrings(h, "current runs", cur, pick(ids, 0, 1, 2, 3, 4, 6))
		got, _ := h.list(store.RunListParams{Name: "ship"})
		eqStrings(h, "name", got, pick(ids, 1, 4))
		got, _ = h.list(store.RunListParams{Statuses: []store.Status{store.StatusFailed, store.StatusCompleted}, AllRuns: true})
		eqStrings(h, "statuses", got, pick(ids, 3, 5))
		got, _ = h.list(store.RunListParams{Statuses: []store.Status{store.StatusCompleted}})
		eqStrings(h, "statuses, current only", got, nil)
		got, _ = h.list(store.RunListParams{InstanceID: "order-1"})
		eqStrings(h, "exact instance", got, pick(ids, 6))
		got, _ = h.list(store.RunListParams{InstanceID: "order-1*"})
		eqStrings(h, "instance prefix", got, pick(ids, 2, 6))
		got, _ = h.list(store.RunListParams{InstanceID: "order-2", AllRuns: true})
		eqStrings(h, "instance, all runs", got, pick(ids, 0, 5))
		got, _ = h.list(store.RunListParams{InstanceID: "*"})
		eqStrings(h, "prefix *", got, cur)
		got, _ = h.list(store.RunListParams{InstanceID: "order_%"})
		eqStrings(h, "no wildcard but a trailing *", got, nil)
		got, _ = h.list(store.RunListParams{CreatedAfter: at(3 * time.Second), CreatedBefore: at(6 * time.Second)})
		eqStrings(h, "created range [3s, 6s)", got, pick(ids, 2, 3, 4))
		got, _ = h.list(store.RunListParams{CreatedAfter: at(5 * time.Second), Name: "order", Statuses: []store.Status{store.StatusPending}})
		eqStrings(h, "combined", got, pick(ids, 0, 2))
		r, err := h.S.RunList(h.Ctx, &store.RunListParams{InstanceID: "order-3"})
		noErr(h, "RunList", err)
		eq(h, "Status", r.Runs[0].Status, store.StatusFailed)
		eqTime(h, "CreatedAt", r.Runs[0].CreatedAt, at(4*time.Second))
		eq(h, "Current", r.Runs[0].Current, true)
	}},
	{"Pagination", func(h *harness) {
		ids := listFixture(h)
		for _, limit := range []int{1, 2, 3, 7, 8} {
			eqStrings(h, fmt.Sprintf("all runs, limit %d", limit), h.listAll(store.RunListParams{AllRuns: true}, limit), ids)
		}
		eqStrings(h, "name, limit 1", h.listAll(store.RunListParams{Name: "order"}, 1), pick(ids, 0, 2, 3, 6))
		_, next := h.list(store.RunListParams{AllRuns: true, Limit: 7})
		eq(h, "NextCursor after the last page", next, "")
	}},
	{"PaginationStable", func(h *harness) {
		// Equal creation times, and runs created between pages.
		var ops []store.Op
		for i := 0; i < 9; i++ {
			op := h.createOp(fmt.Sprintf("i%d", i), "wf", "")
			op.Run.RunID = fmt.Sprintf("run-%d", i)
			ops = append(ops, op)
		}
		h.ok(ops...)
		p := store.RunListParams{Limit: 4}
		first, next := h.list(p)
		eqStrings(h, "page 1", first, []string{"run-8", "run-7", "run-6", "run-5"})
		for i := 9; i < 12; i++ {
			op := h.createOp(fmt.Sprintf("i%d", i), "wf", "")
			op.Run.RunID = fmt.Sprintf("run-%d", i)
			op.Run.CreatedAt = at(time.Duration(i-10) * time.Second) // older, equal and newer
			h.ok(op)
		}
		p.Cursor = next
		var rest []string
		for p.Cursor != "" {
			ids, next := h.list(p)
			rest = append(rest, ids...)
			p.Cursor = next
		}
		eqStrings(h, "later pages", rest, []string{"run-4", "run-3", "run-2", "run-10", "run-1", "run-0", "run-9"})
	}},
	{"DefaultLimit", func(h *harness) {
		var ops []store.Op
		for i := 0; i < 105; i++ {
			ops = append(ops, h.createOp(fmt.Sprintf("i%03d", i), "wf", ""))
		}
		h.ok(ops...)
		ids, next := h.list(store.RunListParams{})
		eq(h, "page size", len(ids), 100)
		if next == "" {
			h.Fatalf("no NextCursor after a full page")
		}
		rest, next := h.list(store.RunListParams{Cursor: next})
		eq(h, "second page", len(rest), 5)
		eq(h, "NextCursor", next, "")
	}},
	{"BadCursor", func(h *harness) {
		h.start("i1", "wf", "")
		if _, err := h.S.RunList(h.Ctx, &store.RunListParams{Cursor: "not a cursor!"}); err == nil {
			h.Fatalf("RunList accepted a malformed cursor")
		}
	}},
}
