package replay

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/perdure/perdure/internal/failure"
	"github.com/perdure/perdure/internal/history"
	"github.com/perdure/perdure/store"
)

var verifyInfo = Info{InstanceID: "i-1", RunID: "run-1", Name: "wf"}

// record runs fn to its end the way the engine would, completing every
// activity with "r<step>" and raising the events given, and returns the
// history it leaves.
func record(t *testing.T, fn Func, raise ...string) []*history.Event {
	t.Helper()
	r := NewRunner(verifyInfo, fn, nil, nil)
	defer r.Close()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var evs []*history.Event
	add := func(ev *history.Event) {
		ev.ID = int64(len(evs) + 1)
		if ev.Time.IsZero() {
			ev.Time = now
		}
		evs = append(evs, ev)
	}
	pending := []*history.Event{{Type: history.ExecutionStarted, Time: now, Data: history.Data{Name: "wf", Input: []byte(`"in"`)}}}
	for _, name := range raise {
		pending = append(pending, &history.Event{Type: history.EventRaised, Time: now, Data: history.Data{Name: name}})
	}
	for len(pending) > 0 {
		ev := pending[0]
		pending = pending[1:]
		res, err := r.Step([]*history.Event{ev})
		if err != nil {
			t.Fatal(err)
		}
		add(ev)
		for _, c := range res.Commands {
			add(c)
			if c.Type == history.TaskScheduled {
				pending = append([]*history.Event{{Type: history.TaskCompleted, Time: now,
					Data: history.Data{Seq: c.Seq, Result: []byte(`"r` + string(rune('0'+c.Seq)) + `"`)}}}, pending...)
			}
		}
		if res.Completion != nil {
			add(res.Completion)
			break
		}
	}
	return evs
}

func verify(fn Func, evs []*history.Event) error {
	r := NewRunner(verifyInfo, fn, nil, nil)
	defer r.Close()
	return r.Verify(evs)
}

// activityThen runs activity "a" then ends as end says.
func activityThen(end func(r *Runner, v []byte) ([]byte, error)) Func {
	return func(r *Runner, _ []byte) ([]byte, error) {
		v, f, err := r.ScheduleActivity("a", nil, nil, "").Wait()
		if f != nil || err != nil {
			return nil, errors.New("activity failed")
		}
		return end(r, v)
	}
}

func returns(s string) Func {
	return activityThen(func(*Runner, []byte) ([]byte, error) { return []byte(s), nil })
}

func fails(msg string) Func {
	return activityThen(func(*Runner, []byte) ([]byte, error) {
		return nil, failure.NewError("Broken", "%s", msg)
	})
}

func continues(input string) Func {
	return activityThen(func(*Runner, []byte) ([]byte, error) {
		return nil, &ContinueAsNewError{Input: []byte(input)}
	})
}

func waitsFor(event string, then Func) Func {
	return func(r *Runner, in []byte) ([]byte, error) {
		if _, _, err := r.WaitEvent(event).Wait(); err != nil {
			return nil, err
		}
		return then(r, in)
	}
}

func outcomeError(t *testing.T, err error, want ...string) {
	t.Helper()
	var oe *OutcomeError
	if !errors.As(err, &oe) {
		t.Fatalf("got %v, want an OutcomeError", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error lacks %q:\n%s", w, err)
		}
	}
}

func TestVerifyAcceptsTheSameOutcome(t *testing.T) {
	for name, fn := range map[string]Func{
		"completed":       returns(`{"a":1}`),
		"failed":          fails("boom"),
		"continue as new": continues(`[1,2]`),
		"running":         waitsFor("go", returns(`1`)),
	} {
		t.Run(name, func(t *testing.T) {
			if err := verify(fn, record(t, fn)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestVerifyIgnoresPayloadLayout(t *testing.T) {
	evs := record(t, returns(`{"a":1,"b":[2,3]}`))
	last := evs[len(evs)-1]
	last.Result = []byte("{\n  \"a\": 1,\n  \"b\": [\n    2,\n    3\n  ]\n}")
	if err := verify(returns(`{"a":1,"b":[2,3]}`), evs); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyReportsAnotherOutcome(t *testing.T) {
	cases := []struct {
		name     string
		recorded Func
		now      Func
		want     []string
	}{
		{"result", returns(`"v1"`), returns(`"v2"`), []string{`history recorded: completed with result "v1"`, `code returned:    completed with result "v2"`}},
		{"failure", returns(`1`), fails("boom"), []string{`completed with result 1`, `code returned:    failed with "boom" (Broken)`}},
		{"failure message", fails("boom"), fails("bang"), []string{`failed with "boom" (Broken)`, `failed with "bang" (Broken)`}},
		{"continue as new", continues(`1`), continues(`2`), []string{`continue as new (workflow "wf") with input 1`, `continue as new (workflow "wf") with input 2`}},
		{"completion instead of continue", continues(`1`), returns(`1`), []string{`continue as new`, `completed with result 1`}},
		{"waits", returns(`1`), activityThen(func(r *Runner, v []byte) ([]byte, error) {
			_, _, err := r.WaitEvent("approval").Wait()
			return v, err
		}), []string{`completed with result 1`, `nothing (the code is still waiting on event "approval")`}},
		{"finishes early", waitsFor("go", returns(`1`)), func(*Runner, []byte) ([]byte, error) { return []byte(`0`), nil },
			[]string{`nothing (the run had not finished at the end of the history)`, `completed with result 0`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			outcomeError(t, verify(c.now, record(t, c.recorded)), append(c.want, "ends differently than the history recorded")...)
		})
	}
}

func TestVerifyReportsOtherStepsFirst(t *testing.T) {
	evs := record(t, returns(`1`))
	other := func(r *Runner, _ []byte) ([]byte, error) {
		r.ScheduleActivity("b", nil, nil, "").Wait()
		return []byte(`1`), nil
	}
	var nd *NondeterminismError
	if err := verify(other, evs); !errors.As(err, &nd) || nd.Step != 1 || nd.Got != `activity "b"` {
		t.Fatalf("got %v, want a NondeterminismError at step 1", err)
	}
}

func TestVerifyDoesNotCompareATermination(t *testing.T) {
	fn := waitsFor("go", returns(`1`))
	evs := record(t, fn)
	now := evs[0].Time
	term := &history.Event{ID: int64(len(evs) + 1), Type: history.ExecutionTerminated, Time: now, Data: history.Data{Reason: "stop"}}
	done := Terminated(term)
	done.ID, done.Time = term.ID+1, now
	evs = append(evs, term, done)
	if done.Status != store.StatusTerminated {
		t.Fatalf("status %s", done.Status)
	}
	if err := verify(fn, evs); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyNeedsAFreshRunner(t *testing.T) {
	fn := returns(`1`)
	evs := record(t, fn)
	r := NewRunner(verifyInfo, fn, nil, nil)
	defer r.Close()
	if err := r.Replay(evs); err != nil {
		t.Fatal(err)
	}
	if err := r.Verify(evs); err == nil || !strings.Contains(err.Error(), "fresh runner") {
		t.Fatalf("got %v", err)
	}
}

func TestDescribeOutcomeCutsLongPayloads(t *testing.T) {
	long := `"` + strings.Repeat("é", 300) + `"`
	s := DescribeOutcome(&history.Event{Type: history.ExecutionCompleted, Data: history.Data{Status: store.StatusCompleted, Result: []byte(long)}})
	if !strings.HasSuffix(s, "…") || len(s) > 260 || !strings.HasPrefix(s, `completed with result "éé`) {
		t.Fatalf("%q", s)
	}
	if s := DescribeOutcome(&history.Event{Type: history.ExecutionCompleted, Data: history.Data{Status: store.StatusCompleted, Result: []byte{0xff, 1}}}); s != "completed with result 2 bytes (not JSON)" {
		t.Fatalf("%q", s)
	}
}
