package pgstore

import (
	"context"
	"testing"
	"time"

	"github.com/perdure/perdure/store"
)

// nextWake waits up to d for a wake-up; ok is false when none came.
func nextWake(ch <-chan Wake, d time.Duration) (Wake, bool) {
	select {
	case k, open := <-ch:
		return k, open
	case <-time.After(d):
		return 0, false
	}
}

// listening waits for the wake-up a new listener delivers once it
// listens.
func listening(t *testing.T, ch <-chan Wake) {
	t.Helper()
	k, ok := nextWake(ch, 10*time.Second)
	if !ok || k != WakeWorkflow|WakeActivity {
		t.Fatalf("the listener did not start: got %v, %v", k, ok)
	}
}

func TestWakeups(t *testing.T) {
	schema := testSchema(t)
	a := openSchema(t, schema, Options{MaxConns: 2})
	b := openSchema(t, schema, Options{MaxConns: 2})
	other := newTestStore(t) // another schema of the same database
	ch := b.Wakeups()
	listening(t, ch)

	// A start on node a wakes node b's workflow claims.
	mustApply(t, a, startOp("i1"))
	if k, ok := nextWake(ch, time.Second); !ok || k&WakeWorkflow == 0 {
		t.Fatalf("start: got %v, %v, want a workflow wake-up within a second", k, ok)
	}
	// A commit that schedules an activity wakes the activity claims.
	tasks, err := a.WorkflowTaskClaim(context.Background(), &store.WorkflowTaskClaimParams{Owner: "a", Max: 1, Now: base, LeaseUntil: base.Add(time.Minute)})
	if err != nil || len(tasks) != 1 {
		t.Fatalf("claim: %d tasks, %v", len(tasks), err)
	}
	if k, ok := nextWake(ch, 200*time.Millisecond); ok {
		t.Fatalf("a claim woke the other node: %v", k)
	}
	commit := commitAll(tasks[0], base)
	commit.Eager = &store.Eager{Owner: "a", Now: base, LeaseUntil: base.Add(time.Minute)}
	commit.NewActivities = []*store.ActivityTask{{Seq: 1, Name: "act", State: store.ActivityReady, ScheduledAt: base, VisibleAt: base}}
	mustApply(t, a, commit)
	if k, ok := nextWake(ch, time.Second); !ok || k != WakeActivity {
		t.Fatalf("commit: got %v, %v, want an activity wake-up alone", k, ok)
	}
	// Work leased at once by its own node wakes no one; neither does
	// another schema.
	eager := startOp("i2")
	eager.Eager = &store.Eager{Owner: "a", Now: base, LeaseUntil: base.Add(time.Minute)}
	mustApply(t, a, eager)
	if eager.Claimed == nil {
		t.Fatal("the eager start was not leased")
	}
	mustApply(t, other, startOp("elsewhere"))
	if k, ok := nextWake(ch, 300*time.Millisecond); ok {
		t.Fatalf("got a wake-up %v for work that needs no other node", k)
	}

	// Slow reader: wake-ups coalesce instead of piling up.
	mustApply(t, a, &store.MessageSendOp{InstanceID: "i1", Message: store.Message{Type: "EventRaised", VisibleAt: base}})
	c, err := a.ActivityTaskClaim(context.Background(), &store.ActivityTaskClaimParams{Owner: "a", Max: 1, Now: base, LeaseUntil: base.Add(time.Minute)})
	if err != nil || len(c) != 1 {
		t.Fatalf("activity claim: %d, %v", len(c), err)
	}
	mustApply(t, a, &store.ActivityTaskRetryOp{RunID: "i1~r1", Seq: 1, Attempt: 1, VisibleAt: base})
	time.Sleep(300 * time.Millisecond)
	if k, ok := nextWake(ch, time.Second); !ok || k != WakeWorkflow|WakeActivity {
		t.Fatalf("coalesced: got %v, %v, want both kinds in one wake-up", k, ok)
	}
	if k, ok := nextWake(ch, 100*time.Millisecond); ok {
		t.Fatalf("a second wake-up %v after the coalesced one", k)
	}

	// A dropped connection is replaced, and says so.
	var killed int
	if err := adminPool(t).QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE query = 'LISTEN ' || quote_ident($1)`, b.channel).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Fatalf("terminated %d listening connections, want 1", killed)
	}
	listening(t, ch)
	mustApply(t, a, startOp("i3"))
	if k, ok := nextWake(ch, time.Second); !ok || k&WakeWorkflow == 0 {
		t.Fatalf("after the reconnection: got %v, %v, want a workflow wake-up", k, ok)
	}

	// Close closes the channel.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case _, open := <-ch:
		if open {
			if _, open = <-ch; open {
				t.Fatal("the channel is open after Close")
			}
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the channel is open after Close")
	}
}

func TestWakePayload(t *testing.T) {
	for _, k := range []Wake{WakeWorkflow, WakeActivity, WakeWorkflow | WakeActivity} {
		if got := parseWake(payload(k)); got != k {
			t.Errorf("parseWake(%q) = %v, want %v", payload(k), got, k)
		}
	}
	for _, p := range []string{"", "x", "wx"} {
		if got := parseWake(p); got != WakeWorkflow|WakeActivity {
			t.Errorf("parseWake(%q) = %v, want both kinds", p, got)
		}
	}
}
