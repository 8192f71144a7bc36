package sqlitestore

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/perdure/perdure/store"
)

// startOp is a start fused with its first workflow task: a commit that
// changes about ten pages.
func startOp(id string, input []byte, t0 time.Time) *store.RunCreateOp {
	return &store.RunCreateOp{
		Run:   store.Run{InstanceID: id, RunID: id, Name: "wf", Input: input, CreatedAt: t0, UpdatedAt: t0},
		Start: store.Message{Type: "ExecutionStarted", VisibleAt: t0},
		Then: &store.WorkflowTaskCommitOp{InstanceID: id, RunID: id, Status: store.StatusRunning, UpdatedAt: t0,
			NewEvents: []*store.Event{{ID: 1, Type: "ExecutionStarted", Time: t0, Data: input}, {ID: 2, Type: "TaskScheduled", Time: t0, Data: []byte(`{"name":"a"}`)}},
			NewActivities: []*store.ActivityTask{{Seq: 2, Name: "a", Input: []byte(`1`), State: store.ActivityRunning, Attempt: 1,
				ScheduledAt: t0, VisibleAt: t0, StartedAt: t0, LeaseOwner: "w", LeaseUntil: t0.Add(time.Minute)}}},
	}
}

// mustApply applies ops and fails t unless Apply and each op succeeded.
func mustApply(t testing.TB, s *Store, ops ...store.Op) {
	t.Helper()
	errs, err := s.Apply(context.Background(), ops)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		if e != nil {
			t.Fatal(e)
		}
	}
}

// The frames of a commit reach the WAL in far fewer writes than SQLite
// asks for (two per frame).
func TestWALWritesCombined(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "w.db"))
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	mustApply(t, s, startOp("warm", []byte(`0`), t0))
	writes, pwrites := walStats.writes.Load(), walStats.pwrites.Load()
	for i := range 50 {
		mustApply(t, s, startOp(fmt.Sprint("r", i), []byte(`1`), t0))
	}
	writes, pwrites = walStats.writes.Load()-writes, walStats.pwrites.Load()-pwrites
	if writes < 50*8 {
		t.Fatalf("50 commits asked for %d WAL writes: expected at least 8 each", writes)
	}
	if pwrites > 50*2 {
		t.Fatalf("50 commits asked for %d WAL writes and made %d: expected at most two each", writes, pwrites)
	}
}

// What the writer commits is in the WAL file when the commit returns,
// durable or not (a claim), for a connection that reads the file itself,
// and a copy of the database and its WAL taken then recovers every
// commit: the frames, their order and checksums are as SQLite wrote
// them, also for transactions larger than the buffer and for those that
// spill pages to the WAL before they commit and rewrite them in place (the
// test fails if none did).
func TestWALWritesReachTheFile(t *testing.T) {
	for _, cache := range []int{0, 8} {
		t.Run(fmt.Sprintf("cache_size=%d", cache), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "w.db")
			s := open(t, path)
			ctx := context.Background()
			if cache > 0 {
				// A writer cache of a few pages spills every
				// transaction to the WAL before its commit.
				s.wmu.Lock()
				_, err := s.wconn.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = %d", cache))
				s.wmu.Unlock()
				if err != nil {
					t.Fatal(err)
				}
			}
			other, err := sql.Open("sqlite", "file:"+uriPath(path)+"?mode=ro")
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			other.SetMaxOpenConns(1)
			want := map[string][]byte{}
			check := func(db *sql.DB, what string) {
				t.Helper()
				for id, in := range want {
					var got []byte
					if err := db.QueryRowContext(ctx, `SELECT input FROM runs WHERE run_id = ?`, id).Scan(&got); err != nil {
						t.Fatalf("%s: run %s: %v", what, id, err)
					}
					if !bytes.Equal(got, in) {
						t.Fatalf("%s: run %s: input of %d bytes, want %d", what, id, len(got), len(in))
					}
				}
			}
			t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			for i, size := range []int{10, 5000, 300_000, 3 << 20, 10, 200_000} {
				id := fmt.Sprint("r", i)
				in := bytes.Repeat([]byte{byte('a' + i)}, size)
				want[id] = in
				mustApply(t, s, startOp(id, in, t0))
				check(other, fmt.Sprintf("after commit %d", i))
			}
			// Transactions of many starts: with the small cache their
			// index pages are spilled, changed again and rewritten in
			// place, which the VFS writes through rather than gathers.
			// Whether a given one does depends on where the WAL stands
			// (the checkpointer runs beside it): up to ten are tried.
			rewrites := walStats.rewrites.Load()
			for round := 0; round < 10 && (round == 0 || cache > 0 && walStats.rewrites.Load() == rewrites); round++ {
				var batch []store.Op
				for i := range 200 {
					id := fmt.Sprintf("b%d-%d", round, i)
					in := bytes.Repeat([]byte{'x'}, 500+i)
					want[id] = in
					batch = append(batch, startOp(id, in, t0))
				}
				mustApply(t, s, batch...)
				check(other, fmt.Sprintf("after batch %d of 200 starts", round))
			}
			if cache > 0 && walStats.rewrites.Load() == rewrites {
				t.Fatal("no frame was rewritten in place in ten batches: the test does not cover that path")
			}

			// A claim commits without fsync: its lease is in the file too.
			mustApply(t, s, &store.RunCreateOp{
				Run:   store.Run{InstanceID: "c", RunID: "c", Name: "wf", Input: []byte(`2`), CreatedAt: t0, UpdatedAt: t0},
				Start: store.Message{Type: "ExecutionStarted", VisibleAt: t0}})
			want["c"] = []byte(`2`)
			tasks, err := s.WorkflowTaskClaim(ctx, &store.WorkflowTaskClaimParams{Owner: "w1", Max: 1, Now: t0, LeaseUntil: t0.Add(time.Hour)})
			if err != nil || len(tasks) != 1 {
				t.Fatal(err, len(tasks))
			}
			var owner string
			if err := other.QueryRowContext(ctx, `SELECT lease_owner FROM runs WHERE run_id = 'c'`).Scan(&owner); err != nil || owner != "w1" {
				t.Fatalf("after a claim: lease owner %q, %v; want w1", owner, err)
			}

			// A copy of the files as they are now: opening it recovers
			// the WAL, frame by frame, checking each checksum.
			copyDir := t.TempDir()
			for _, suffix := range []string{"-wal", ""} {
				copyFile(t, path+suffix, filepath.Join(copyDir, "w.db"+suffix))
			}
			cp, err := sql.Open("sqlite", "file:"+uriPath(filepath.Join(copyDir, "w.db")))
			if err != nil {
				t.Fatal(err)
			}
			defer cp.Close()
			var ok string
			if err := cp.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
				t.Fatalf("the copy: integrity_check %q, %v", ok, err)
			}
			check(cp, "the copy")
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
