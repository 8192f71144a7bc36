package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/server/api"
)

// handlerFunc is a handler that reports failures as errors, answered in
// the API's error format.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) native(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}

func (s *Server) nativeRoutes() []route {
	return []route{
		{"GET", "/api/v1/openapi.json", s.openAPI},
		{"GET", "/api/v1/workflows", s.native(s.listWorkflows)},
		{"POST", "/api/v1/instances", s.native(s.start)},
		{"GET", "/api/v1/instances", s.native(s.list)},
		{"GET", "/api/v1/instances/counts", s.native(s.counts)},
		{"GET", "/api/v1/instances/{id}", s.native(s.get)},
		{"DELETE", "/api/v1/instances/{id}", s.native(s.purgeOne)},
		{"GET", "/api/v1/instances/{id}/progress", s.native(s.progress)},
		{"GET", "/api/v1/instances/{id}/history", s.native(s.history)},
		{"POST", "/api/v1/instances/{id}/events/{event}", s.native(s.raise)},
		{"POST", "/api/v1/instances/{id}/terminate", s.native(s.control(s.c.Terminate))},
		{"POST", "/api/v1/instances/{id}/suspend", s.native(s.control(s.c.Suspend))},
		{"POST", "/api/v1/instances/{id}/resume", s.native(s.control(s.c.Resume))},
		{"POST", "/api/v1/purge", s.native(s.purgeWhere)},
		{"POST", "/api/v1/activities/complete", s.native(s.completeActivity)},
		{"POST", "/api/v1/activities/fail", s.native(s.failActivity)},
		{"POST", "/api/v1/activities/heartbeat", s.native(s.heartbeatActivity)},
	}
}

func (s *Server) listWorkflows(w http.ResponseWriter, r *http.Request) error {
	names := s.registered()
	known := names != nil
	if names == nil {
		names = []string{}
	}
	writeJSON(w, http.StatusOK, api.WorkflowList{Known: known, Workflows: names})
	return nil
}

// start answers POST /api/v1/instances: 202 Accepted with Location and
// Retry-After, or with ?wait= 200 and the final status when the instance
// finishes in time.
func (s *Server) start(w http.ResponseWriter, r *http.Request) error {
	wait, err := parseWait(r)
	if err != nil {
		return err
	}
	var req api.StartRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	if req.WorkflowName == "" {
		return badRequest(`workflowName is required: send {"workflowName": "MyWorkflow", "input": …}`)
	}
	if err := api.CheckName("workflow name", req.WorkflowName); err != nil {
		return badRequest("invalid workflowName: %v", err)
	}
	if err := s.checkWorkflow(req.WorkflowName); err != nil {
		return err
	}
	key := r.Header.Get(api.HeaderIdempotencyKey)
	if key != "" {
		if err := api.CheckInstanceID(key); err != nil {
			return badRequest("invalid %s header (it becomes the instance id): %v", api.HeaderIdempotencyKey, err)
		}
		if req.InstanceID == "" {
			req.InstanceID = key
		}
	}
	if req.InstanceID != "" {
		if err := api.CheckInstanceID(req.InstanceID); err != nil {
			return badRequest("invalid instanceId: %v", err)
		}
	}
	input, err := payloadFromJSON("input", req.Input)
	if err != nil {
		return err
	}
	if err := s.checkInput(req.WorkflowName, input); err != nil {
		return err
	}
	opts := perdure.StartOptions{InstanceID: req.InstanceID, TaskQueue: req.TaskQueue}
	if req.StartAt != nil {
		opts.StartAt = *req.StartAt
	}

	var inst *perdure.Instance
	created := false
	if key != "" {
		if inst, err = s.idempotentMatch(r.Context(), key, req.InstanceID, req.WorkflowName, input); err != nil {
			return err
		}
	}
	if inst == nil {
		if inst, created, err = s.c.StartWorkflowRaw(r.Context(), req.WorkflowName, input, opts); err != nil {
			return err
		}
	}
	w.Header().Set(api.HeaderCreated, strconv.FormatBool(created))
	return s.answerWithStatus(w, r, inst, wait)
}

// idempotentMatch returns the current run of id when it was started with
// the same workflow and input (whatever its status), nil when there is no
// such instance, and a conflict when the key was used for another request.
func (s *Server) idempotentMatch(ctx context.Context, key, id, name string, input []byte) (*perdure.Instance, error) {
	cur, err := s.c.GetInstance(ctx, id)
	switch {
	case errors.Is(err, perdure.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	case cur.Name == name && bytes.Equal(cur.Input, input):
		return cur, nil
	case !cur.Status.Finished():
		return nil, nil // the start reports the conflict
	}
	return nil, &apiError{status: http.StatusConflict, code: codeConflict,
		msg: fmt.Sprintf("%s %q was already used to start instance %q with another workflow or input: use a new key for a new request",
			api.HeaderIdempotencyKey, key, id)}
}

// answerWithStatus writes inst, first waiting up to wait for it to finish:
// 200 when finished, else 202 with Location and Retry-After.
func (s *Server) answerWithStatus(w http.ResponseWriter, r *http.Request, inst *perdure.Instance, wait time.Duration) error {
	if wait > 0 && !inst.Status.Finished() {
		extendWriteDeadline(w, wait)
		var err error
		if inst, err = s.waitDone(r.Context(), inst.InstanceID, wait); err != nil {
			return err
		}
	}
	w.Header().Set("Location", statusURL(inst.InstanceID))
	status := http.StatusOK
	if !inst.Status.Finished() {
		w.Header().Set("Retry-After", "1")
		status = http.StatusAccepted
	}
	writeJSON(w, status, toInstance(inst))
	return nil
}

// waitDone waits up to wait for the instance to finish (following
// continue-as-new) and returns its status then, finished or not.
func (s *Server) waitDone(ctx context.Context, id string, wait time.Duration) (*perdure.Instance, error) {
	wctx, cancel := context.WithTimeout(ctx, wait)
	inst, err := s.c.WaitForCompletion(wctx, id)
	cancel()
	if err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return s.c.GetInstance(ctx, id)
	}
	return inst, err
}

// get answers GET /api/v1/instances/{id}[?runId=…][?wait=30s].
func (s *Server) get(w http.ResponseWriter, r *http.Request) error {
	id, err := instanceID(r)
	if err != nil {
		return err
	}
	wait, err := parseWait(r)
	if err != nil {
		return err
	}
	runID := r.URL.Query().Get("runId")
	if runID != "" {
		if wait > 0 {
			return badRequest("wait and runId cannot be combined: wait follows the current run; drop runId to long-poll")
		}
		inst, err := s.c.GetRun(r.Context(), id, runID)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, toInstance(inst))
		return nil
	}
	var inst *perdure.Instance
	if wait > 0 {
		extendWriteDeadline(w, wait)
		inst, err = s.waitDone(r.Context(), id, wait)
	} else {
		inst, err = s.c.GetInstance(r.Context(), id)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toInstance(inst))
	return nil
}

// raise answers POST /api/v1/instances/{id}/events/{event}; the body is
// the event data (any JSON value, or empty).
func (s *Server) raise(w http.ResponseWriter, r *http.Request) error {
	id, err := instanceID(r)
	if err != nil {
		return err
	}
	name := r.PathValue("event")
	if err := api.CheckName("event name", name); err != nil {
		return badRequest("invalid event name: %v", err)
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	data, err := payloadFromJSON("event data (the request body)", body)
	if err != nil {
		return err
	}
	if err := s.c.RaiseEventRaw(r.Context(), id, name, data); err != nil {
		return err
	}
	accepted(w, id)
	return nil
}

// control answers terminate, suspend and resume, whose optional body is
// {"reason": "…"}.
func (s *Server) control(op func(ctx context.Context, id, reason string) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := instanceID(r)
		if err != nil {
			return err
		}
		var req api.ReasonRequest
		if err := s.decodeBody(w, r, &req, true); err != nil {
			return err
		}
		if err := op(r.Context(), id, req.Reason); err != nil {
			return err
		}
		accepted(w, id)
		return nil
	}
}

// accepted answers 202 with the instance's status URL and no body.
func accepted(w http.ResponseWriter, id string) {
	w.Header().Set("Location", statusURL(id))
	w.WriteHeader(http.StatusAccepted)
}
