package perduretest

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/internal/history"
	"github.com/perdure/perdure/internal/replay"
	"github.com/perdure/perdure/server/api"
	"github.com/perdure/perdure/store/memstore"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// NondeterminismError is the error the engine reports when workflow code
// asks for other steps than its run's history recorded: Step is the step
// number, Recorded and Got say what the history holds and what the code
// asked for, RecordedAt and GotAt where in the code (file:line). A replay
// that fails this way returns a *ReplayError wrapping it; errors.As finds
// it.
type NondeterminismError = replay.NondeterminismError

// OutcomeError reports workflow code that makes the recorded steps but ends
// differently than the recorded run: another result, failure or
// continue-as-new, or no end where the run ended (and the reverse).
type OutcomeError = replay.OutcomeError

// PanicError is a panic in workflow code during a replay.
type PanicError = replay.PanicError

// ErrInvalidHistory is wrapped by the errors about documents that are not a
// whole history of one run: another schema, one page of a paginated
// history, missing or misnumbered events.
var ErrInvalidHistory = errors.New("invalid history")

// ErrNotRegistered is wrapped by the error for a history whose workflow is
// not registered on the replayer.
var ErrNotRegistered = errors.New("workflow not registered on the replayer")

// ReplayerOptions configure a Replayer. Zero values mean defaults.
type ReplayerOptions struct {
	// Codec is the codec the histories' payloads were encoded with: the
	// one the workers that recorded them used. Default JSON.
	Codec perdure.Codec
	// Logger receives what workflow code logs outside workflow.GetLogger
	// (which is silent while replaying). Default: discarded.
	Logger *slog.Logger
}

// Replayer replays recorded histories against registered workflow code.
// Register the workflows as on a worker, with RegisterWorkflow, or by
// passing Worker() to a package's Register function. Replaying never runs
// an activity, a side effect or a timer and touches no store. A Replayer is
// safe for concurrent use once registration is done.
type Replayer struct {
	w      *worker.Worker
	codec  perdure.Codec
	logger *slog.Logger
}

// NewReplayer returns a Replayer with nothing registered. It takes at most
// one ReplayerOptions.
func NewReplayer(opts ...ReplayerOptions) *Replayer {
	var o ReplayerOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	// The worker is only a registry here: it wraps typed workflow functions
	// exactly as in production. The client it needs is closed at once, so
	// nothing runs in the background and nothing is stored.
	st := memstore.New()
	c, err := perdure.NewClient(perdure.Options{Store: st, Codec: o.Codec, Logger: o.Logger})
	if err != nil {
		panic(fmt.Sprintf("perduretest: create the replayer's registry: %v", err))
	}
	w := worker.New(c, worker.Options{Logger: o.Logger})
	_ = c.Close()
	_ = st.Close()
	return &Replayer{w: w, codec: c.Codec(), logger: o.Logger}
}

// Worker returns the worker the replayer looks workflows up in, for
// functions that register a package's workflows and activities on a
// worker (Register(w *worker.Worker) error). Activities registered on it
// never run; registering them keeps the names workflows call them by the
// same as on the real worker. Never start this worker.
func (r *Replayer) Worker() *worker.Worker { return r.w }

// Registrar is what the test kit registers workflows and activities on: a
// Replayer or an Env.
type Registrar interface {
	Worker() *worker.Worker
}

// RegisterWorkflow registers fn under its bare function name, like
// worker.RegisterWorkflow.
func RegisterWorkflow[I, R any](reg Registrar, fn func(workflow.Context, I) (R, error)) error {
	return worker.RegisterWorkflow(reg.Worker(), fn)
}

// RegisterWorkflowAs registers fn under name, like worker.RegisterWorkflowAs.
func RegisterWorkflowAs[I, R any](reg Registrar, name string, fn func(workflow.Context, I) (R, error)) error {
	return worker.RegisterWorkflowAs(reg.Worker(), name, fn)
}

// ReplayError reports a history that the current code does not reproduce.
// Err is a *NondeterminismError (other steps), an *OutcomeError (another
// end) or a *PanicError; errors.As reaches it.
type ReplayError struct {
	File         string // the history file, "" for a document replayed from memory
	WorkflowName string
	InstanceID   string
	RunID        string
	Err          error
	hint         string
}

func (e *ReplayError) Error() string {
	var b strings.Builder
	b.WriteString("replay")
	if e.File != "" {
		b.WriteString(" of " + e.File)
	}
	fmt.Fprintf(&b, " (workflow %s, instance %s, run %s): %v", e.WorkflowName, e.InstanceID, e.RunID, e.Err)
	if e.hint != "" {
		b.WriteString("\n" + e.hint)
	}
	return b.String()
}

// Unwrap returns Err.
func (e *ReplayError) Unwrap() error { return e.Err }

// ReplayFile replays the history in the file at path: a perdure.history/v1
// document or a bare JSON array of events.
func (r *Replayer) ReplayFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("replay history: %w", err)
	}
	h, err := ParseHistory(b)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return r.replay(path, h)
}

// ReplayJSON replays a history given as JSON: a perdure.history/v1
// document or a bare JSON array of events.
func (r *Replayer) ReplayJSON(data []byte) error {
	h, err := ParseHistory(data)
	if err != nil {
		return err
	}
	return r.replay("", h)
}

// ReplayHistory replays a history document, for example one fetched with
// httpclient.Client.History or built with ExportHistory. A document built
// in Go code may leave Schema, InstanceID, RunID and WorkflowName empty:
// the run's ExecutionStarted event gives them.
func (r *Replayer) ReplayHistory(h *api.History) error {
	if h == nil {
		return fmt.Errorf("%w: the history document is nil", ErrInvalidHistory)
	}
	return r.replay("", h)
}

// replay checks h and replays it on a fresh runner.
func (r *Replayer) replay(file string, h *api.History) error {
	where := func(err error) error {
		if file == "" {
			return err
		}
		return fmt.Errorf("%s: %w", file, err)
	}
	info, err := checkHistory(h)
	if err != nil {
		return where(err)
	}
	fn, ok := r.w.Workflow(info.Name)
	if !ok {
		registered := "none"
		if names := r.w.WorkflowNames(); len(names) > 0 {
			registered = strings.Join(names, ", ")
		}
		return where(fmt.Errorf("%w: the history is a run of workflow %q; registered: %s. "+
			"Register it with perduretest.RegisterWorkflow(r, fn) or pass r.Worker() to the function that registers it on your worker",
			ErrNotRegistered, info.Name, registered))
	}
	run := replay.NewRunner(info, fn, r.codec, r.logger)
	defer run.Close()
	if err := run.Verify(h.Events); err != nil {
		return &ReplayError{File: file, WorkflowName: info.Name, InstanceID: info.InstanceID, RunID: info.RunID, Err: err,
			hint: r.hintFor(err)}
	}
	return nil
}

var activityStep = regexp.MustCompile(`^activity "(.*)"$`)

// hintFor explains the most common cause of a false alarm: a replayer that
// does not know the names activities are registered under, so that the
// code calls them by their Go names.
func (r *Replayer) hintFor(err error) string {
	var nd *NondeterminismError
	if !errors.As(err, &nd) {
		return ""
	}
	rec, got := activityStep.FindStringSubmatch(nd.Recorded), activityStep.FindStringSubmatch(nd.Got)
	if rec == nil || got == nil {
		return ""
	}
	names := r.w.ActivityNames()
	if slices.Contains(names, rec[1]) || slices.Contains(names, got[1]) {
		return ""
	}
	return fmt.Sprintf("Hint: the replayer has no activity %q or %q registered. If the worker registers activities under "+
		"other names than their Go function names, register them on the replayer too (pass r.Worker() to the function "+
		"that registers them on your worker), so that the code calls them by the same names.", rec[1], got[1])
}

// checkHistory checks that h is the whole history of one run and returns
// the run's Info.
func checkHistory(h *api.History) (replay.Info, error) {
	invalid := func(format string, args ...any) (replay.Info, error) {
		return replay.Info{}, fmt.Errorf("%w: %s", ErrInvalidHistory, fmt.Sprintf(format, args...))
	}
	if h.Schema != "" && h.Schema != api.SchemaHistory {
		return invalid("the document's schema is %q, not %q: export the history with "+
			"`perdure workflow history ID --output json` (or GET /api/v1/instances/{id}/history)", h.Schema, api.SchemaHistory)
	}
	if h.NextPageToken != "" {
		return invalid("the document is one page of the history (nextPageToken %q): export the whole history, without pageSize", h.NextPageToken)
	}
	if len(h.Events) == 0 {
		return invalid("the history has no events")
	}
	for i, ev := range h.Events {
		if ev == nil {
			return invalid("event %d is null", i+1)
		}
		if ev.ID != int64(i+1) {
			return invalid("event %d has id %d: a history holds its events numbered 1, 2, 3… in order; export the whole history of one run", i+1, ev.ID)
		}
		if ev.Type == "" {
			return invalid("event %d has no type", ev.ID)
		}
	}
	start := h.Events[0]
	switch start.Type {
	case history.ExecutionStarted:
	case history.ExecutionTerminated:
		// A run terminated before it started: no code ran; the document
		// names the run.
		start = &history.Event{}
	default:
		return invalid("event 1 is %s, want ExecutionStarted: a history starts with the run's start", start.Type)
	}
	for _, ev := range h.Events[1:] {
		switch ev.Type {
		case history.ExecutionStarted:
			return invalid("event %d is a second ExecutionStarted: a history holds one run; export each run on its own (--run-id)", ev.ID)
		case history.ExecutionCompleted, history.ContinueAsNew:
			if ev.ID != int64(len(h.Events)) {
				return invalid("event %d ends the run (%s) but %d more events follow it", ev.ID, ev.Type, int64(len(h.Events))-ev.ID)
			}
		}
	}
	info := replay.Info{InstanceID: h.InstanceID, RunID: h.RunID, Name: h.WorkflowName,
		ParentInstanceID: start.ParentInstanceID, CreatedAt: start.Time}
	if err := agree("instance id", &info.InstanceID, start.InstanceID); err != nil {
		return replay.Info{}, err
	}
	if err := agree("run id", &info.RunID, start.RunID); err != nil {
		return replay.Info{}, err
	}
	if err := agree("workflow name", &info.Name, start.Name); err != nil {
		return replay.Info{}, err
	}
	if info.Name == "" {
		return invalid("neither the document nor its ExecutionStarted event names the workflow")
	}
	if h.Status.Finished() {
		last := h.Events[len(h.Events)-1].Type
		if last != history.ExecutionCompleted && last != history.ContinueAsNew {
			return invalid("the run is %s but its history does not end with its completion: export the whole history", h.Status)
		}
	}
	return info, nil
}

// agree fills *doc from the start event's value, or checks that both agree.
func agree(what string, doc *string, event string) error {
	switch {
	case *doc == "":
		*doc = event
	case event != "" && event != *doc:
		return fmt.Errorf("%w: the document's %s is %q but its ExecutionStarted event says %q: the events belong to another run",
			ErrInvalidHistory, what, *doc, event)
	}
	return nil
}
