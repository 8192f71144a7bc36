package sqlitestore

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/perdure/perdure/store"
)

func testEvents(first int64, n int) []*store.Event {
	base := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
	evs := make([]*store.Event, n)
	for i := range evs {
		id := first + int64(i)
		var data []byte
		switch id % 3 {
		case 1:
			data = []byte(fmt.Sprintf(`{"seq":%d,"name":"step"}`, id))
		case 2:
			data = []byte{} // empty, not nil
		}
		evs[i] = &store.Event{ID: id, Type: fmt.Sprintf("Type%d", id%4), Time: base.Add(time.Duration(id) * time.Microsecond), Data: data}
	}
	return evs
}

func sameEvents(t *testing.T, what string, got, want []*store.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d", what, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.Type != w.Type || !g.Time.Equal(w.Time) || !bytes.Equal(g.Data, w.Data) {
			t.Fatalf("%s: event %d = %+v, want %+v", what, i, g, w)
		}
	}
}

func TestChunkRoundTrip(t *testing.T) {
	evs := testEvents(5, 7)
	b := encodeChunk(evs)
	got, err := decodeChunk(nil, b, 5, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, "all", got, evs)
	got, err = decodeChunk(nil, b, 5, 7, 3)
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, "after 7, 3 of them", got, evs[3:6])
	for cut := 1; cut < len(b); cut++ {
		if _, err := decodeChunk(nil, b[:cut], 5, 0, -1); err == nil {
			// a cut at an event boundary is a shorter valid chunk
			if n, _ := decodeChunk(nil, b[:cut], 5, 0, -1); len(n) == len(evs) {
				t.Fatalf("a chunk cut at %d of %d bytes decoded to every event", cut, len(b))
			}
		}
	}
}

func FuzzDecodeChunk(f *testing.F) {
	f.Add(encodeChunk(testEvents(1, 3)), int64(1), int64(0), 2)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, int64(1), int64(0), -1)
	f.Fuzz(func(t *testing.T, b []byte, first, after int64, limit int) {
		evs, err := decodeChunk(nil, b, first, after, limit)
		if err == nil && limit >= 0 && len(evs) > limit {
			t.Fatalf("%d events for limit %d", len(evs), limit)
		}
	})
}

// appendHistory writes events to run r's history as commits of the given
// sizes, each a chunk when it has several events.
func appendHistory(t *testing.T, s *Store, runID string, sizes []int) []*store.Event {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	var all []*store.Event
	for _, n := range sizes {
		tasks, err := s.WorkflowTaskClaim(ctx, &store.WorkflowTaskClaimParams{Owner: "w", Max: 1, Now: now, LeaseUntil: now.Add(time.Minute)})
		if err != nil || len(tasks) != 1 {
			t.Fatalf("claim: %v, %d tasks", err, len(tasks))
		}
		evs := testEvents(int64(len(all))+1, n)
		op := &store.WorkflowTaskCommitOp{RunID: runID, LeaseOwner: "w", HistoryLen: int64(len(all)), NewEvents: evs,
			Status: store.StatusRunning, UpdatedAt: now,
			Messages: []*store.MessageSendOp{{RunID: runID, Message: store.Message{Type: "TimerFired", VisibleAt: now}}}}
		for _, m := range tasks[0].Messages {
			op.Consumed = append(op.Consumed, m.ID)
		}
		if errs, err := s.Apply(ctx, []store.Op{op}); err != nil || errs[0] != nil {
			t.Fatalf("commit of %d events: %v %v", n, err, errs)
		}
		all = append(all, evs...)
	}
	return all
}

func createRun(t *testing.T, s *Store, runID string) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	op := &store.RunCreateOp{Run: store.Run{InstanceID: "i-" + runID, RunID: runID, Name: "wf", CreatedAt: now, UpdatedAt: now},
		Start: store.Message{Type: "ExecutionStarted", VisibleAt: now}}
	if errs, err := s.Apply(context.Background(), []store.Op{op}); err != nil || errs[0] != nil {
		t.Fatalf("create: %v %v", err, errs)
	}
}

func TestHistoryChunksPaging(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "h.db"))
	createRun(t, s, "r1")
	all := appendHistory(t, s, "r1", []int{1, 3, 1, 5, 2, 1})
	ctx := context.Background()
	var rows, chunks int
	s.wmu.Lock()
	err := s.wconn.QueryRowContext(ctx, `SELECT count(*), count(chunk) FROM history WHERE run_id = 'r1'`).Scan(&rows, &chunks)
	s.wmu.Unlock()
	if err != nil || rows != 6 || chunks != 3 {
		t.Fatalf("%d rows, %d of them chunks (%v); want 6 and 3", rows, chunks, err)
	}
	for after := 0; after <= len(all); after++ {
		for limit := 0; limit <= len(all)+1; limit++ {
			got, err := s.HistoryGet(ctx, &store.HistoryGetParams{RunID: "r1", AfterID: int64(after), Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			want := all[after:]
			if limit > 0 && limit < len(want) {
				want = want[:limit]
			}
			sameEvents(t, fmt.Sprintf("after %d, limit %d", after, limit), got, want)
		}
	}
}

// Reverting migration 4 expands the chunks into one row per event, which
// schema version 3 reads; migrating up again reads the same history.
func TestMigrateDownExpandsChunks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	s := open(t, path)
	createRun(t, s, "r1")
	all := appendHistory(t, s, "r1", []int{4, 1, 3})
	ctx := context.Background()
	if err := s.migrateDown(ctx, 3); err != nil {
		t.Fatal(err)
	}
	var rows int
	s.wmu.Lock()
	err := s.wconn.QueryRowContext(ctx, `SELECT count(*) FROM history WHERE run_id = 'r1'`).Scan(&rows)
	s.wmu.Unlock()
	if err != nil || rows != len(all) {
		t.Fatalf("%d rows after migrating down (%v), want %d", rows, err, len(all))
	}
	s.Close()
	s = open(t, path)
	got, err := s.HistoryGet(ctx, &store.HistoryGetParams{RunID: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, "after migrating down and up", got, all)
}

// A page of a long history reads the rows it needs and no more: the scan
// stops once the page is full, instead of stepping through (and reading
// the chunk of) every later row, which made paging through a history
// quadratic in its rows.
func TestHistoryPageStopsAtItsLimit(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "h.db"))
	createRun(t, s, "r1")
	sizes := make([]int, 40)
	for i := range sizes {
		sizes[i] = 10
	}
	all := appendHistory(t, s, "r1", sizes)
	ctx := context.Background()
	const limit = 25 // pages end inside a chunk, which the next page reads again
	var got []*store.Event
	rows, pages := 0, 0
	for after := int64(0); ; pages++ {
		h, err := s.readHistory(ctx, &store.HistoryGetParams{RunID: "r1", AfterID: after, Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		rows += h.rows
		got = append(got, h.events...)
		if len(h.events) < limit {
			break
		}
		after = h.events[len(h.events)-1].ID
	}
	sameEvents(t, "paged", got, all)
	if max := len(sizes) + pages; rows > max {
		t.Fatalf("%d pages read %d rows; a page should read only its own (at most %d in all)", pages, rows, max)
	}
}
