package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/perdure/perdure/store"
	"github.com/perdure/perdure/store/memstore"
)

// gatedStore counts the Apply calls in flight and the ops of each batch;
// the first Apply waits until release is closed.
type gatedStore struct {
	*memstore.Store
	shared   bool
	release  chan struct{}
	first    atomic.Bool
	inFlight atomic.Int64

	mu          sync.Mutex
	maxInFlight int64
	maxBatch    int
	batches     int
}

func (s *gatedStore) Exclusive() bool { return !s.shared }

func (s *gatedStore) Apply(ctx context.Context, ops []store.Op) ([]error, error) {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	s.mu.Lock()
	s.maxInFlight = max(s.maxInFlight, n)
	s.maxBatch = max(s.maxBatch, len(ops))
	s.batches++
	s.mu.Unlock()
	if !s.first.Swap(true) {
		<-s.release
	}
	time.Sleep(time.Millisecond)
	return s.Store.Apply(ctx, ops)
}

// startOp starts run runID of instance id (workflow "W").
func startOp(id, runID string, now time.Time) *store.RunCreateOp {
	return &store.RunCreateOp{Run: store.Run{InstanceID: id, RunID: runID, Name: "W", CreatedAt: now, UpdatedAt: now},
		Start: store.Message{Type: "ExecutionStarted", VisibleAt: now}}
}

// TestCommitterBatches checks the two committers: on an exclusive store,
// one batch at a time of up to MaxBatch ops; on a shared store, several
// batches in flight, each of at most sharedMaxBatch ops. Every op is
// committed with its own outcome either way.
func TestCommitterBatches(t *testing.T) {
	const n = 600
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared=%v", shared), func(t *testing.T) {
			st := &gatedStore{Store: memstore.New(), shared: shared, release: make(chan struct{})}
			e := storeEngine(t, st)
			now := e.Now()
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				wg.Go(func() {
					id := fmt.Sprint("i", i)
					op := startOp(id, id, now)
					if err := e.apply1(op); err != nil || !op.Created {
						errs <- fmt.Errorf("%s: created %v, %v", id, op.Created, err)
					}
				})
			}
			// The first batch commits once, on an exclusive store, every
			// request is queued behind it, or, on a shared store, another
			// batch is in flight beside it.
			for {
				st.mu.Lock()
				batches := st.batches
				st.mu.Unlock()
				if (shared && batches >= 2) || (!shared && e.pending.Load() == n) {
					break
				}
				time.Sleep(time.Millisecond)
			}
			close(st.release)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			st.mu.Lock()
			defer st.mu.Unlock()
			if shared {
				if st.maxInFlight < 2 || st.maxInFlight > sharedCommitters || st.maxBatch > sharedMaxBatch {
					t.Errorf("shared store: %d batches, up to %d in flight, up to %d ops each; want 2..%d in flight, at most %d ops",
						st.batches, st.maxInFlight, st.maxBatch, sharedCommitters, sharedMaxBatch)
				}
			} else if st.maxInFlight != 1 || st.maxBatch <= sharedMaxBatch {
				t.Errorf("exclusive store: up to %d in flight, up to %d ops each; want one at a time, batches past %d ops",
					st.maxInFlight, st.maxBatch, sharedMaxBatch)
			}
		})
	}
}

// stackStore records, for each Apply, whether the committer goroutine
// made it.
type stackStore struct {
	*memstore.Store
	mu        sync.Mutex
	committer []bool
}

func (s *stackStore) Apply(ctx context.Context, ops []store.Op) ([]error, error) {
	buf := make([]byte, 64<<10)
	stack := string(buf[:runtime.Stack(buf, false)])
	s.mu.Lock()
	s.committer = append(s.committer, strings.Contains(stack, ".commitLoop("))
	s.mu.Unlock()
	return s.Store.Apply(ctx, ops)
}

// TestLoneRequestCommittedByItsCaller: on an exclusive store, a request
// made while no other is pending, and not in a burst, is applied on its
// caller's goroutine, without the hand-off to the committer and back; its
// outcome and its wake-ups are the same.
func TestLoneRequestCommittedByItsCaller(t *testing.T) {
	st := &stackStore{Store: memstore.New()}
	e := storeEngine(t, st)
	now := e.Now()
	op := startOp("a", "a", now)
	if err := e.apply1(op); err != nil || !op.Created {
		t.Fatalf("created %v, %v", op.Created, err)
	}
	again := startOp("a", "b", now)
	again.FailIfExists = true
	if err := e.apply1(again); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second start of the instance: %v, want ErrConflict", err)
	}
	// After a batch of several requests (a burst), the next request goes
	// to the committer; the one after it, alone again, does not.
	e.lastBatch.Store(5)
	for _, id := range []string{"c", "d"} {
		if err := e.apply1(startOp(id, id, now)); err != nil {
			t.Fatal(err)
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if want := []bool{false, false, true, false}; !slices.Equal(st.committer, want) {
		t.Fatalf("Apply by the committer goroutine: %v; want %v", st.committer, want)
	}
	if e.pending.Load() != 0 {
		t.Fatalf("pending %d after the commits", e.pending.Load())
	}
}
