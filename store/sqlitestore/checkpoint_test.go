package sqlitestore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/perdure/perdure/store"
)

// TestCheckpointsInBackground: commits leave their pages in the WAL (the
// writer's own automatic checkpoint is far away) and the background
// checkpointer moves them into the database file.
func TestCheckpointsInBackground(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cp.db")
	s := open(t, path)
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	ctx := context.Background()
	payload := make([]byte, 2000)
	for i := range 300 {
		id := fmt.Sprint("i", i)
		createWithPayload(t, s, id, payload)
	}
	var mode string
	if err := s.wconn.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&mode); err != nil || mode != fmt.Sprint(writerAutoCheckpoint) {
		t.Fatalf("writer wal_autocheckpoint = %q, %v; want %d", mode, err, writerAutoCheckpoint)
	}
	deadline := time.Now().Add(5 * time.Second)
	for size() < before+300*2000 {
		if time.Now().After(deadline) {
			t.Fatalf("the database file stayed at %d bytes (from %d): nothing was checkpointed", size(), before)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWALRestartsUnderSteadyWrites: commits that never stop do not make
// the WAL file grow without end: once the background checkpointer has
// copied it all, the WAL starts over, and later commits overwrite it.
func TestWALRestartsUnderSteadyWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wal.db")
	// A smaller cycle than the default, so that three seconds of writes
	// on a slow disk see several.
	s, err := Open(path, Options{restartFrames: 1000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	walSize := func() int64 {
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	payload := make([]byte, 3000)
	written := walStats.bytes.Load()
	start := time.Now()
	for i := 0; time.Since(start) < 3*time.Second; i++ {
		id := fmt.Sprint("i", i)
		createWithPayload(t, s, id, payload)
		time.Sleep(200 * time.Microsecond)
	}
	// Without restarts the WAL holds all that was written to it, up to
	// the writer's safety net (writerAutoCheckpoint pages: 45 % of three
	// seconds' writes here); with them, the longest stretch between two
	// (a RESTART that meets a reader gives up, and the WAL grows until
	// the next one): 4–7 %.
	written = walStats.bytes.Load() - written
	end := walSize()
	if cycle := s.restartFrames * (pageSize + 24); written < 8*cycle {
		t.Skipf("only %d bytes written to the WAL in three seconds: this disk is too slow to tell", written)
	}
	t.Logf("WAL %d bytes, %d written", end, written)
	if end > written/6 {
		t.Fatalf("the WAL is %d bytes after %d were written to it: it never started over", end, written)
	}
	if s.restarts.Load() == 0 {
		t.Fatal("no RESTART checkpoint ran")
	}
}

// The WAL restarts only once it holds the store's cycle of frames: a
// RESTART under a stream of commits holds the writer for 1-3 ms (it copies
// what came since the passive checkpoint and fsyncs the WAL and the
// database), so a WAL of a few thousand frames is checkpointed in the
// background but not restarted.
func TestWALRestartsOnlyFromItsCycle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cycle.db")
	s := open(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	before := fi.Size()
	payload := make([]byte, 3000)
	written := walStats.bytes.Load()
	for i := 0; walStats.bytes.Load()-written < 3000*(pageSize+24); i++ {
		id := fmt.Sprint("i", i)
		createWithPayload(t, s, id, payload)
		if i%50 == 0 {
			time.Sleep(checkpointEvery / 4) // let the checkpointer look
		}
	}
	time.Sleep(3 * checkpointEvery)
	if n := s.restarts.Load(); n != 0 {
		t.Fatalf("%d RESTART checkpoints of a WAL of about 3,000 frames; the cycle is %d", n, s.restartFrames)
	}
	// The checkpointer did look: the commits' pages were copied into the
	// database file, which grew by hundreds of pages.
	if fi, err = os.Stat(path); err != nil || fi.Size() < before+200*pageSize {
		t.Fatalf("database file %d bytes (%d before), %v: the background checkpoints copied nothing, so no restart proves nothing", fi.Size(), before, err)
	}
}

// The RESTART checkpoint runs only while no write is in progress: it waits
// for the writer lock, so that a writer never meets SQLite's write lock
// held by the checkpointer and sleeps in the busy handler.
func TestRestartWaitsForTheWriter(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "r.db"))
	s.wmu.Lock()
	done := make(chan struct{})
	go func() {
		s.restart()
		close(done)
	}()
	select {
	case <-done:
		s.wmu.Unlock()
		t.Fatal("the restart ran while the writer lock was held")
	case <-time.After(50 * time.Millisecond):
	}
	s.wmu.Unlock()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the restart did not run once the writer lock was free")
	}
	if n := s.restarts.Load(); n != 1 {
		t.Fatalf("%d restarts, want 1", n)
	}
}

// createWithPayload commits a new run whose input and start message both
// carry payload.
func createWithPayload(t *testing.T, s *Store, id string, payload []byte) {
	t.Helper()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	errs, err := s.Apply(context.Background(), []store.Op{&store.RunCreateOp{
		Run:   store.Run{InstanceID: id, RunID: id, Name: "wf", Input: payload, CreatedAt: t0, UpdatedAt: t0},
		Start: store.Message{Type: "ExecutionStarted", VisibleAt: t0, Data: payload}}})
	if err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
}
