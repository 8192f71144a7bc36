package replay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/perdure/perdure/internal/history"
	"github.com/perdure/perdure/store"
)

// OutcomeError reports workflow code that, replaying a history, asks for
// the recorded steps but ends differently than the run did: with another
// result or failure, continuing as new with another input, finishing where
// the run had not finished, or still waiting where the run finished.
type OutcomeError struct {
	Recorded string
	Got      string
}

func (e *OutcomeError) Error() string {
	var b strings.Builder
	b.WriteString("workflow code ends differently than the history recorded:\n")
	fmt.Fprintf(&b, "  history recorded: %s\n", e.Recorded)
	fmt.Fprintf(&b, "  code returned:    %s\n", e.Got)
	b.WriteString("Replaying the same history must end the same way. Restore the previous behaviour, " +
		"or guard the change with workflow.GetVersion so that runs recorded before it keep the old one.")
	return b.String()
}

// Verify replays a run's whole history, finished or not, on a fresh
// runner. Like Replay it returns a NondeterminismError when the code asks
// for other steps than the history recorded, or the PanicError of a panic;
// in addition it returns an OutcomeError when the code ends differently
// than the history: another result, failure or continue-as-new than the
// recorded completion, a completion the history does not have, or no
// completion where the history has one. The outcome of a terminated run is
// not the code's and is not compared.
//
// Verify is for tests replaying exported histories; the engine replays
// only running runs, with Replay. The runner must be closed afterwards.
func (r *Runner) Verify(events []*history.Event) error {
	if r.started || r.historyLen > 0 {
		return errors.New("replay: Verify needs a fresh runner")
	}
	var ended *history.Event
	fn := r.fn
	r.fn = func(rr *Runner, input []byte) ([]byte, error) {
		out, err := fn(rr, input)
		rr.finish(out, err)
		ended = rr.completion
		return out, err
	}
	if err := r.Replay(events); err != nil {
		return err
	}
	var recorded *history.Event
	for _, ev := range events {
		switch ev.Type {
		case history.ExecutionTerminated:
			return nil
		case history.ExecutionCompleted, history.ContinueAsNew:
			if recorded == nil {
				recorded = ev
			}
		}
	}
	switch {
	case recorded == nil && ended == nil:
		return nil
	case recorded == nil:
		return &OutcomeError{Recorded: "nothing (the run had not finished at the end of the history)", Got: DescribeOutcome(ended)}
	case ended == nil:
		return &OutcomeError{Recorded: DescribeOutcome(recorded), Got: r.describeWaiting()}
	}
	if !sameOutcome(recorded, ended) {
		return &OutcomeError{Recorded: DescribeOutcome(recorded), Got: DescribeOutcome(ended)}
	}
	return nil
}

// sameOutcome compares a recorded completion with the code's.
func sameOutcome(rec, got *history.Event) bool {
	if rec.Type != got.Type {
		return false
	}
	if rec.Type == history.ContinueAsNew {
		return strings.EqualFold(rec.Name, got.Name) && samePayload(rec.Input, got.Input)
	}
	if rec.Status != got.Status {
		return false
	}
	if rec.Status == store.StatusCompleted {
		return samePayload(rec.Result, got.Result)
	}
	rf, gf := rec.Failure, got.Failure
	if rf == nil || gf == nil {
		return rf == gf
	}
	return rf.Type == gf.Type && rf.Message == gf.Message
}

// samePayload compares encoded values, ignoring JSON layout (an exported
// history may be indented).
func samePayload(a, b []byte) bool {
	return bytes.Equal(canonical(a), canonical(b))
}

func canonical(p []byte) []byte {
	if len(p) == 0 {
		return []byte("null")
	}
	if json.Valid(p) {
		var buf bytes.Buffer
		if json.Compact(&buf, p) == nil {
			return buf.Bytes()
		}
	}
	return p
}

// DescribeOutcome says in words how a completion event ends a run.
func DescribeOutcome(ev *history.Event) string {
	if ev.Type == history.ContinueAsNew {
		return fmt.Sprintf("continue as new (workflow %q) with input %s", ev.Name, showPayload(ev.Input))
	}
	switch ev.Status {
	case store.StatusCompleted:
		return "completed with result " + showPayload(ev.Result)
	case store.StatusFailed, store.StatusTerminated:
		what := "failed"
		if ev.Status == store.StatusTerminated {
			what = "terminated"
		}
		if ev.Failure == nil {
			return what
		}
		s := fmt.Sprintf("%s with %q", what, ev.Failure.Message)
		if ev.Failure.Type != "" {
			s += " (" + ev.Failure.Type + ")"
		}
		return s
	}
	return fmt.Sprintf("%s %s", ev.Type, ev.Status)
}

const maxShown = 200

func showPayload(p []byte) string {
	s := string(canonical(p))
	if !json.Valid(p) && len(p) > 0 {
		s = fmt.Sprintf("%d bytes (not JSON)", len(p))
	}
	if len(s) > maxShown {
		cut := maxShown
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// describeWaiting says what the code waits on instead of finishing.
func (r *Runner) describeWaiting() string {
	ws := r.Waiting()
	if len(ws) == 0 {
		return "nothing (the code has not finished)"
	}
	parts := make([]string, 0, len(ws))
	for _, w := range ws {
		switch w.Kind {
		case "activity":
			parts = append(parts, fmt.Sprintf("activity %q", w.Name))
		case "child":
			parts = append(parts, fmt.Sprintf("child workflow %q", w.Name))
		case "timer":
			parts = append(parts, "a timer")
		case "event":
			parts = append(parts, fmt.Sprintf("event %q", w.Name))
		case "more":
			parts = append(parts, fmt.Sprintf("%d more", w.Count))
		}
	}
	return "nothing (the code is still waiting on " + strings.Join(parts, ", ") + ")"
}
