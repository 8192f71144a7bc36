package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/perdure/perdure/internal/engine"
	"github.com/perdure/perdure/internal/hook"
	"github.com/perdure/perdure/internal/workerapi"
	"github.com/perdure/perdure/server/api"
	"github.com/perdure/perdure/store"
)

// The worker API (/api/v1/worker/…) is the store contract over HTTP: a
// remote worker runs its own engine on a store/remotestore.Store, whose
// calls arrive here and are applied to this server's store through the
// engine (see docs/remote-workers.md). It must be reachable only by
// trusted workers: it can read and change every instance.

// workerSeenWithin is how recently a worker must have claimed work to be
// listed by GET /api/v1/workers.
const workerSeenWithin = time.Minute

// workerMinBodyBytes is the smallest body limit of the worker API: a
// remote engine's group commit sends many ops in one request.
const workerMinBodyBytes = 64 << 20

// wakeupKeepAlive is how often the wake-up stream writes a line when
// nothing happens, so that both sides notice a dead connection.
const wakeupKeepAlive = 15 * time.Second

// workerAPI is the state of the worker API.
type workerAPI struct {
	gw      *engine.Gateway
	maxBody int64

	mu      sync.Mutex
	workers map[string]*workerState // by lease owner
	drain   chan struct{}           // closed by Server.Shutdown
	drained bool
}

type workerState struct {
	api.Worker
	polls int
}

func (s *Server) workerRoutes() []route {
	eng, _ := hook.ClientEngine(s.c)
	s.wk = &workerAPI{gw: eng.Gateway(), maxBody: max(s.maxBody, workerMinBodyBytes),
		workers: map[string]*workerState{}, drain: make(chan struct{})}
	return []route{
		{"GET", "/api/v1/workers", s.native(s.listWorkers)},
		{"POST", workerapi.PathApply, s.worker(s.workerApply)},
		{"POST", workerapi.PathWorkflowClaim, s.worker(s.workerWorkflowClaim)},
		{"POST", workerapi.PathActivityClaim, s.worker(s.workerActivityClaim)},
		{"POST", workerapi.PathActivityGet, s.worker(s.workerActivityGet)},
		{"POST", workerapi.PathActivityList, s.worker(s.workerActivityList)},
		{"POST", workerapi.PathLeasesRelease, s.worker(s.workerLeasesRelease)},
		{"POST", workerapi.PathRunGet, s.worker(s.workerRunGet)},
		{"POST", workerapi.PathRunList, s.worker(s.workerRunList)},
		{"POST", workerapi.PathRunCounts, s.worker(s.workerRunCounts)},
		{"POST", workerapi.PathHistoryGet, s.worker(s.workerHistoryGet)},
		{"POST", workerapi.PathMessageList, s.worker(s.workerMessageList)},
		{"POST", workerapi.PathNextWakeup, s.worker(s.workerNextWakeup)},
		{"GET", workerapi.PathWakeups, s.worker(s.workerWakeups)},
	}
}

// Shutdown ends the worker API's long polls and wake-up streams at once
// (claims answer with no work; remote workers reconnect later), so that
// http.Server.Shutdown does not wait for them: register it with
// http.Server.RegisterOnShutdown. Requests that arrive later are answered
// without waiting.
func (s *Server) Shutdown() {
	s.wk.mu.Lock()
	defer s.wk.mu.Unlock()
	if !s.wk.drained {
		s.wk.drained = true
		close(s.wk.drain)
	}
}

// worker wraps a worker API handler: it checks the protocol version and
// answers errors with the store sentinels they match.
func (s *Server) worker(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(workerapi.HeaderProtocol, workerapi.Protocol)
		err := checkProtocol(r)
		if err == nil {
			err = h(w, r)
		}
		if err != nil && r.Context().Err() != nil {
			return // the worker is gone (it stopped, or gave up waiting)
		}
		if err != nil {
			s.writeWorkerError(w, r, err)
		}
	}
}

func checkProtocol(r *http.Request) error {
	v := r.Header.Get(workerapi.HeaderProtocol)
	switch {
	case v == workerapi.Protocol:
		return nil
	case v == "":
		return badRequest("the worker API needs the %s header: connect workers with store/remotestore (perdure.Connect)", workerapi.HeaderProtocol)
	}
	return badRequest("worker protocol version %q is not served (this server speaks version %s): run workers and server of the same Perdure release",
		v, workerapi.Protocol)
}

// writeWorkerError answers err in the native error format, with the store
// sentinels it matches so that errors.Is works on the worker's side.
func (s *Server) writeWorkerError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, engine.ErrClosed) {
		err = fmt.Errorf("the server is shutting down: %w", store.ErrClosed)
	}
	e := classify(err)
	sentinels := workerapi.SentinelsOf(err)
	if e.status == http.StatusInternalServerError && (errors.Is(err, store.ErrLeaseLost) || errors.Is(err, store.ErrStaleTask)) {
		e.status, e.code = http.StatusConflict, codeConflict
	}
	s.logFailure(r, e, err)
	var body workerapi.ErrorBody
	body.Error.Code, body.Error.Message, body.Error.Sentinels = e.code, e.msg, sentinels
	writeJSON(w, e.status, body)
}

// decodeWorker reads a worker API request body into v.
func (s *Server) decodeWorker(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.wk.maxBody))
	if err != nil {
		return err
	}
	if len(body) == 0 {
		return &apiError{status: http.StatusBadRequest, code: codeMalformedJSON, msg: "the request body is empty: send a JSON object"}
	}
	return decodeJSON(body, v)
}

// workerApply answers POST /api/v1/worker/apply: the ops go through the
// engine's group committer, as the engine's own commits do.
func (s *Server) workerApply(w http.ResponseWriter, r *http.Request) error {
	var req workerapi.ApplyRequest
	if err := s.decodeWorker(w, r, &req); err != nil {
		return err
	}
	ops, err := workerapi.DecodeOps(req.Ops)
	if err != nil {
		return badRequest("apply: %v", err)
	}
	errs, err := s.wk.gw.Apply(r.Context(), ops)
	if err != nil {
		return err
	}
	res := workerapi.ApplyResponse{Results: make([]workerapi.OpResult, len(ops))}
	for i, op := range ops {
		res.Results[i] = workerapi.Outcome(op, errs[i])
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// claimWait is how long a claim may wait for work.
func (s *Server) claimWait(d workerapi.Duration) time.Duration {
	return min(max(time.Duration(d), 0), workerapi.MaxWait)
}

// longPoll calls claim until it returns work or an error, or wait has
// passed, sleeping until work of kind may have appeared in between. The
// claim's times move on with the server's clock while it waits. After
// Shutdown it claims once and does not wait.
func longPoll[T any](s *Server, r *http.Request, kind store.Wake, wait time.Duration,
	claim func(ctx context.Context, elapsed time.Duration) ([]T, error)) ([]T, error) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-s.wk.drain:
			cancel()
		case <-ctx.Done():
		}
	}()
	began := time.Now()
	deadline := began.Add(wait)
	var elapsed time.Duration // 0 for the first claim: the worker's own time
	for {
		wake := s.wk.gw.WorkChan(kind)
		since := s.wk.gw.Now()
		tasks, err := claim(r.Context(), elapsed)
		if err != nil || len(tasks) > 0 || !time.Now().Before(deadline) || ctx.Err() != nil {
			return tasks, err
		}
		waitCtx, stop := context.WithDeadline(ctx, deadline)
		s.wk.gw.WaitForWork(waitCtx, wake, since)
		stop()
		if err := r.Context().Err(); err != nil {
			return nil, err
		}
		elapsed = time.Since(began).Truncate(time.Microsecond)
	}
}

// workerWorkflowClaim answers POST /api/v1/worker/workflow-tasks/claim.
func (s *Server) workerWorkflowClaim(w http.ResponseWriter, r *http.Request) error {
	var req workerapi.WorkflowClaimRequest
	if err := s.decodeWorker(w, r, &req); err != nil {
		return err
	}
	p := req.Params
	if p.Owner == "" {
		return badRequest("params.Owner is required: the lease owner of the claimed runs")
	}
	wait := s.claimWait(req.Wait)
	extendWriteDeadline(w, wait)
	done := s.wk.polling(r, p.Owner, p.TaskQueues, p.Names, nil)
	defer done()
	tasks, err := longPoll(s, r, store.WakeWorkflow, wait, func(ctx context.Context, elapsed time.Duration) ([]*store.WorkflowTask, error) {
		q := p
		q.Now, q.LeaseUntil = p.Now.Add(elapsed), p.LeaseUntil.Add(elapsed)
		return s.wk.gw.WorkflowTaskClaim(ctx, &q)
	})
	if err != nil {
		return err
	}
	if tasks == nil {
		tasks = []*store.WorkflowTask{}
	}
	writeJSON(w, http.StatusOK, workerapi.WorkflowClaimResponse{Tasks: tasks})
	return nil
}

// workerActivityClaim answers POST /api/v1/worker/activity-tasks/claim.
func (s *Server) workerActivityClaim(w http.ResponseWriter, r *http.Request) error {
	var req workerapi.ActivityClaimRequest
	if err := s.decodeWorker(w, r, &req); err != nil {
		return err
	}
	p := req.Params
	if p.Owner == "" {
		return badRequest("params.Owner is required: the lease owner of the claimed tasks")
	}
	wait := s.claimWait(req.Wait)
	extendWriteDeadline(w, wait)
	done := s.wk.polling(r, p.Owner, p.TaskQueues, nil, p.Names)
	defer done()
	tasks, err := longPoll(s, r, store.WakeActivity, wait, func(ctx context.Context, elapsed time.Duration) ([]*store.ClaimedActivity, error) {
		q := p
		q.Now, q.LeaseUntil = p.Now.Add(elapsed), p.LeaseUntil.Add(elapsed)
		return s.wk.gw.ActivityTaskClaim(ctx, &q)
	})
	if err != nil {
		return err
	}
	if tasks == nil {
		tasks = []*store.ClaimedActivity{}
	}
	writeJSON(w, http.StatusOK, workerapi.ActivityClaimResponse{Tasks: tasks})
	return nil
}

// workerLeasesRelease answers POST /api/v1/worker/leases/release: a
// worker's graceful shutdown hands its work back at once.
func (s *Server) workerLeasesRelease(w http.ResponseWriter, r *http.Request) error {
	var req workerapi.LeasesReleaseRequest
	if err := s.decodeWorker(w, r, &req); err != nil {
		return err
	}
	if req.Owner == "" {
		return badRequest("owner is required: a worker releases only its own leases (every owner's leases are released by the server itself)")
	}
	if err := s.wk.gw.LeasesRelease(r.Context(), req.Owner); err != nil {
		return err
	}
	s.wk.forget(req.Owner)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) workerRunGet(w http.ResponseWriter, r *http.Request) error {
	var req workerapi.RunGetRequest
	if err := s.decodeWorker(w, r, &req); err != nil {
		return err
	}
	run, err := s.wk.gw.RunGet(r.Context(), req.InstanceID, req.RunID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, run)
	return nil
}

func (s *Server) workerRunList(w http.ResponseWriter, r *http.Request) error {
	var p store.RunListParams
	if err := s.decodeWorker(w, r, &p); err != nil {
		return err
	}
	res, err := s.wk.gw.RunList(r.Context(), &p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) workerRunCounts(w http.ResponseWriter, r *http.Request) error {
	var p store.RunListParams
	if err := s.decodeWorker(w, r, &p); err != nil {
		return err
	}
	counts, err := s.wk.gw.RunCounts(r.Context(), &p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, workerapi.RunCountsResponse{Counts: counts})
	return nil
}

func (s *Server) workerHistoryGet(w http.ResponseWriter, r *http.Request) error {
	var p store.HistoryGetParams
	if err := s.decodeWorker(w, r, &p); err != nil {
		return err
	}
	events, err := s.wk.gw.HistoryGet(r.Context(), &p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, workerapi.HistoryGetResponse{Events: nonNil(events)})
	return nil
}

func (s *Server) workerMessageList(w http.ResponseWriter, r *http.Request) error {
	var req workerapi.RunRequest
	if err := s.decodeWorker(w, r, &req); err != nil {
		return err
	}
	msgs, err := s.wk.gw.MessageList(r.Context(), req.RunID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, workerapi.MessageListResponse{Messages: nonNil(msgs)})
	return nil
}

func (s *Server) workerActivityGet(w http.ResponseWriter, r *http.Request) error {
	var req workerapi.ActivityTaskRequest
	if err := s.decodeWorker(w, r, &req); err != nil {
		return err
	}
	t, err := s.wk.gw.ActivityTaskGet(r.Context(), req.RunID, req.Seq)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, workerapi.ActivityTaskResponse{Task: t})
	return nil
}

func (s *Server) workerActivityList(w http.ResponseWriter, r *http.Request) error {
	var req workerapi.RunRequest
	if err := s.decodeWorker(w, r, &req); err != nil {
		return err
	}
	ts, err := s.wk.gw.ActivityTaskList(r.Context(), req.RunID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, workerapi.ActivityTaskListResponse{Tasks: nonNil(ts)})
	return nil
}

func (s *Server) workerNextWakeup(w http.ResponseWriter, r *http.Request) error {
	var req workerapi.NextWakeupRequest
	if err := s.decodeWorker(w, r, &req); err != nil {
		return err
	}
	if req.After.IsZero() {
		req.After = s.wk.gw.Now()
	}
	at, ok, err := s.wk.gw.NextWakeup(r.Context(), req.After)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, workerapi.NextWakeupResponse{At: at, OK: ok})
	return nil
}

// workerWakeups answers GET /api/v1/worker/wakeups: a stream of
// newline-delimited JSON lines, one each time work may have appeared that
// this server's engine did not hand out at once, and a keep-alive line
// every 15 seconds.
func (s *Server) workerWakeups(w http.ResponseWriter, r *http.Request) error {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	send := func(u workerapi.Wakeup) bool {
		b, _ := json.Marshal(u)
		_ = rc.SetWriteDeadline(time.Now().Add(wakeupKeepAlive * 2))
		if _, err := w.Write(append(b, '\n')); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send(workerapi.Wakeup{}) {
		return nil
	}
	keepAlive := time.NewTicker(wakeupKeepAlive)
	defer keepAlive.Stop()
	wf, act := s.wk.gw.WorkChan(store.WakeWorkflow), s.wk.gw.WorkChan(store.WakeActivity)
	for {
		var u workerapi.Wakeup
		select {
		case <-wf:
			u.Workflow = true
		case <-act:
			u.Activity = true
		case <-keepAlive.C:
		case <-r.Context().Done():
			return nil
		case <-s.wk.drain:
			return nil
		case <-s.wk.gw.Closing():
			return nil
		}
		// Both kinds may have appeared at once.
		select {
		case <-wf:
			u.Workflow = true
		default:
		}
		select {
		case <-act:
			u.Activity = true
		default:
		}
		// The next channels are taken before the line is written, so that
		// work that appears meanwhile is reported by the next line.
		wf, act = s.wk.gw.WorkChan(store.WakeWorkflow), s.wk.gw.WorkChan(store.WakeActivity)
		if !send(u) {
			return nil
		}
	}
}

// listWorkers answers GET /api/v1/workers.
func (s *Server) listWorkers(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, api.WorkerList{Schema: api.SchemaWorkerList, Workers: s.wk.list(time.Now()),
		SeenWithin: workerSeenWithin.String()})
	return nil
}

// polling records that owner started a claim, with what it serves, and
// returns the function that records its end.
func (wa *workerAPI) polling(r *http.Request, owner string, queues, workflows, activities []string) func() {
	now := time.Now()
	wa.mu.Lock()
	defer wa.mu.Unlock()
	wa.prune(now)
	st := wa.workers[owner]
	if st == nil {
		st = &workerState{Worker: api.Worker{ID: owner}}
		wa.workers[owner] = st
	}
	st.Process = r.Header.Get(workerapi.HeaderWorker)
	st.Address = r.RemoteAddr
	st.TaskQueues = slices.Clone(queues)
	if workflows != nil {
		st.Workflows = slices.Clone(workflows)
	}
	if activities != nil {
		st.Activities = slices.Clone(activities)
	}
	st.LastSeen = now
	st.polls++
	return func() {
		wa.mu.Lock()
		defer wa.mu.Unlock()
		st.polls--
		st.LastSeen = time.Now()
	}
}

// RemoteWorkflows returns the workflow names that the remote workers seen
// within the last minute serve, sorted (for a dispatcher that must leave
// their runs to them, such as the Durable Task gRPC service).
func (s *Server) RemoteWorkflows() []string {
	if s.wk == nil {
		return nil
	}
	var out []string
	for _, w := range s.wk.list(time.Now()) {
		out = append(out, w.Workflows...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// forget drops owner, which stopped.
func (wa *workerAPI) forget(owner string) {
	wa.mu.Lock()
	defer wa.mu.Unlock()
	delete(wa.workers, owner)
}

// prune drops the workers not seen within workerSeenWithin.
func (wa *workerAPI) prune(now time.Time) {
	for id, st := range wa.workers {
		if st.polls == 0 && now.Sub(st.LastSeen) > workerSeenWithin {
			delete(wa.workers, id)
		}
	}
}

func (wa *workerAPI) list(now time.Time) []api.Worker {
	wa.mu.Lock()
	defer wa.mu.Unlock()
	wa.prune(now)
	out := make([]api.Worker, 0, len(wa.workers))
	for _, st := range wa.workers {
		wk := st.Worker
		wk.Polling = st.polls > 0
		wk.TaskQueues = nonNil(wk.TaskQueues)
		wk.Workflows = nonNil(wk.Workflows)
		wk.Activities = nonNil(wk.Activities)
		out = append(out, wk)
	}
	slices.SortFunc(out, func(a, b api.Worker) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

// nonNil returns s, or an empty slice for nil (a JSON array, not null).
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
