package server

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"hash/fnv"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/internal/engine"
	"github.com/perdure/perdure/internal/failure"
	"github.com/perdure/perdure/internal/history"
	"github.com/perdure/perdure/server/api"
	"github.com/perdure/perdure/store"
)

// progressPoll is how often a progress long poll re-reads the store; the
// engine has no change notification for runs other than completion.
const progressPoll = 150 * time.Millisecond

// progress answers GET /api/v1/instances/{id}/progress[?version=V&wait=30s]:
// where the instance is. With version and wait, it answers as soon as the
// progress differs from version (or the wait ends), so a client can follow
// an instance live with one request at a time.
func (s *Server) progress(w http.ResponseWriter, r *http.Request) error {
	id, err := instanceID(r)
	if err != nil {
		return err
	}
	wait, err := parseWait(r)
	if err != nil {
		return err
	}
	version := r.URL.Query().Get("version")
	ctx := r.Context()
	snap, err := s.snapshot(ctx, id)
	if err != nil {
		return err
	}
	if wait > 0 && version != "" && snap.version == version && !snap.inst.Status.Finished() {
		extendWriteDeadline(w, wait)
		if snap, err = s.waitForChange(ctx, id, version, wait); err != nil {
			return err
		}
	}
	p, err := s.buildProgress(ctx, snap)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// waitForChange polls the instance until its version differs from version
// or wait has passed; completion wakes it at once.
func (s *Server) waitForChange(ctx context.Context, id, version string, wait time.Duration) (*snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = s.c.WaitForCompletion(ctx, id)
	}()
	tick := time.NewTicker(progressPoll)
	defer tick.Stop()
	for {
		select {
		case <-done:
		case <-tick.C:
		case <-ctx.Done():
		}
		// Read with the request's context: the wait ending is not an error.
		snap, err := s.snapshot(context.WithoutCancel(ctx), id)
		if err != nil || snap.version != version || snap.inst.Status.Finished() || ctx.Err() != nil {
			return snap, err
		}
		select {
		case <-done:
			done = nil // completion was not for this run (continue-as-new); keep polling
		default:
		}
	}
}

// snapshot is what the progress of an instance is computed from.
type snapshot struct {
	inst    *perdure.Instance
	run     *store.Run
	tasks   []*store.ActivityTask
	msgs    []*store.Message
	version string
}

func (s *Server) snapshot(ctx context.Context, id string) (*snapshot, error) {
	inst, err := s.c.GetInstance(ctx, id)
	if err != nil {
		return nil, err
	}
	st := s.c.Store()
	snap := &snapshot{inst: inst}
	if snap.run, err = st.RunGet(ctx, id, inst.RunID); err != nil {
		return nil, err
	}
	if snap.tasks, err = st.ActivityTaskList(ctx, inst.RunID); err != nil {
		return nil, err
	}
	if snap.msgs, err = st.MessageList(ctx, inst.RunID); err != nil {
		return nil, err
	}
	snap.version = snap.fingerprint()
	return snap, nil
}

// fingerprint hashes everything the progress document shows. The
// instance is read apart from the run (and both apart from the tasks and
// messages), so a snapshot can mix the state before a commit with the
// state after it; the instance's own fields are hashed too, so that such a
// snapshot never has the version of a consistent one, and a client that
// follows with it is answered again at once instead of keeping the mixed
// document until the state next changes (a suspended instance shown as
// running).
func (sn *snapshot) fingerprint() string {
	h := fnv.New64a()
	str := func(s string) { h.Write([]byte(s)); h.Write([]byte{0}) }
	num := func(n int64) { _ = binary.Write(h, binary.LittleEndian, n) }
	if in := sn.inst; in != nil {
		str(in.RunID)
		str(string(in.Status))
		num(in.UpdatedAt.UnixNano())
		str(in.TaskError)
		str(string(in.CustomStatus))
	}
	r := sn.run
	str(r.RunID)
	str(string(r.Status))
	num(r.UpdatedAt.UnixNano())
	num(r.HistoryLen)
	str(r.TaskError)
	str(string(r.CustomStatus))
	for _, t := range sn.tasks {
		num(t.Seq)
		str(string(t.State))
		num(int64(t.Attempt))
		num(t.VisibleAt.UnixNano())
		num(t.Deadline.UnixNano())
		str(string(t.HeartbeatDetails))
	}
	for _, m := range sn.msgs {
		num(m.ID)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (s *Server) buildProgress(ctx context.Context, sn *snapshot) (*api.Progress, error) {
	stored, err := s.c.Store().HistoryGet(ctx, &store.HistoryGetParams{RunID: sn.run.RunID})
	if err != nil {
		return nil, err
	}
	events := make([]*history.Event, 0, len(stored))
	for _, se := range stored {
		ev, err := history.Decode(se)
		if err != nil {
			return nil, err
		}
		events = append(events, ev)
	}
	p := &api.Progress{Schema: api.SchemaProgress, Version: sn.version, Instance: toInstance(sn.inst),
		HistoryLength: int64(len(events)), Pending: pendingSteps(events, sn.tasks, time.Now()),
		BufferedEvents: []*api.BufferedEvent{}}
	if n := len(events); n > 0 {
		ev := events[n-1]
		p.LastEvent = &api.EventSummary{ID: ev.ID, Type: ev.Type, Time: ev.Time, Step: ev.Seq, Name: ev.Name}
	}
	for _, m := range sn.msgs {
		if m.Type != history.EventRaised {
			continue
		}
		ev, err := history.DecodeMessage(m)
		if err != nil {
			continue
		}
		p.BufferedEvents = append(p.BufferedEvents, &api.BufferedEvent{Name: ev.Name, RaisedAt: m.VisibleAt, Data: payloadJSON(ev.Input)})
	}
	return p, nil
}

// pendingSteps replays the command events of a history to find the steps
// without a result, and adds what the activity tasks tell about attempts.
func pendingSteps(events []*history.Event, tasks []*store.ActivityTask, now time.Time) []*api.PendingStep {
	pending := map[int64]*api.PendingStep{}
	for _, ev := range events {
		switch ev.Type {
		case history.TaskScheduled:
			pending[ev.Seq] = &api.PendingStep{Kind: api.PendingActivity, Step: ev.Seq, Name: ev.Name, Since: ev.Time, Source: ev.Source}
		case history.TimerCreated:
			p := &api.PendingStep{Kind: api.PendingTimer, Step: ev.Seq, Since: ev.Time, Source: ev.Source, FireAt: timePtr(ev.FireAt)}
			if name, ok := strings.CutPrefix(ev.Purpose, "event:"); ok {
				p.Kind, p.Name = api.PendingEvent, name
			}
			pending[ev.Seq] = p
		case history.SubOrchestrationInstanceCreated:
			pending[ev.Seq] = &api.PendingStep{Kind: api.PendingChild, Step: ev.Seq, Name: ev.Name, Since: ev.Time,
				Source: ev.Source, InstanceID: ev.InstanceID}
		case history.TaskCompleted, history.TaskFailed, history.TimerFired,
			history.SubOrchestrationInstanceCompleted, history.SubOrchestrationInstanceFailed:
			delete(pending, ev.Seq)
		case history.EventRaised:
			// The oldest wait for this event (with a timeout) got it; its
			// timeout timer stays in history until it fires, unused.
			var oldest *api.PendingStep
			for _, p := range pending {
				if p.Kind == api.PendingEvent && strings.EqualFold(p.Name, ev.Name) && (oldest == nil || p.Step < oldest.Step) {
					oldest = p
				}
			}
			if oldest != nil {
				delete(pending, oldest.Step)
			}
		}
	}
	for _, t := range tasks {
		p := pending[t.Seq]
		if p == nil || p.Kind != api.PendingActivity {
			continue
		}
		p.State, p.Attempt = string(t.State), t.Attempt
		if t.State == store.ActivityReady && t.VisibleAt.After(now) {
			p.NextAttemptAt = timePtr(t.VisibleAt)
		}
		if t.State != store.ActivityReady {
			p.Deadline = timePtr(t.Deadline)
		}
		p.LastFailure = failure.Decode(t.LastFailure)
		p.HeartbeatDetails = payloadJSON(t.HeartbeatDetails)
		if t.State == store.ActivityPending {
			p.TaskToken = engine.Token{InstanceID: t.InstanceID, RunID: t.RunID, Seq: t.Seq, Attempt: t.Attempt}.Encode()
		}
	}
	out := make([]*api.PendingStep, 0, len(pending))
	for _, p := range pending {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *api.PendingStep) int { return int(a.Step - b.Step) })
	return out
}
