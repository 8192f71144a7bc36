package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/server/api"
)

// daprPrefixes are the API versions under which Dapr's sidecar has served
// the workflow API.
var daprPrefixes = []string{"/v1.0", "/v1.0-beta1", "/v1.0-alpha1"}

// Dapr error codes (as in Dapr's runtime).
const (
	daprErrStart     = "ERR_START_WORKFLOW"
	daprErrGet       = "ERR_GET_WORKFLOW"
	daprErrRaise     = "ERR_RAISE_EVENT_WORKFLOW"
	daprErrTerminate = "ERR_TERMINATE_WORKFLOW"
	daprErrPause     = "ERR_PAUSE_WORKFLOW"
	daprErrResume    = "ERR_RESUME_WORKFLOW"
	daprErrPurge     = "ERR_PURGE_WORKFLOW"
)

func (s *Server) dapr(opCode string, h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeDaprError(w, r, opCode, err)
		}
	}
}

func (s *Server) daprRoutes() []route {
	var rs []route
	for _, p := range daprPrefixes {
		base := p + "/workflows/{component}"
		rs = append(rs,
			route{"POST", base + "/{name}/start", s.dapr(daprErrStart, s.daprStart)},
			route{"GET", base + "/{id}", s.dapr(daprErrGet, s.daprGet)},
			route{"POST", base + "/{id}/raiseEvent/{event}", s.dapr(daprErrRaise, s.daprRaise)},
			route{"POST", base + "/{id}/terminate", s.dapr(daprErrTerminate, s.daprControl(s.c.Terminate))},
			route{"POST", base + "/{id}/pause", s.dapr(daprErrPause, s.daprControl(s.c.Suspend))},
			route{"POST", base + "/{id}/resume", s.dapr(daprErrResume, s.daprControl(s.c.Resume))},
			route{"POST", base + "/{id}/purge", s.dapr(daprErrPurge, s.daprPurge)},
		)
	}
	return rs
}

// daprInstanceID checks an instance id with Dapr's error codes.
func daprInstanceID(id string) error {
	if err := api.CheckInstanceID(id); err != nil {
		code := "ERR_INSTANCE_ID_INVALID"
		if len(id) > api.MaxIDLength {
			code = "ERR_INSTANCE_ID_TOO_LONG"
		}
		if id == "" {
			code = "ERR_INSTANCE_ID_PROVIDED_MISSING"
		}
		return &apiError{status: http.StatusBadRequest, code: codeInvalidArgument, daprCode: code,
			msg: "invalid workflow instance ID: " + err.Error()}
	}
	return nil
}

// daprStart answers POST …/workflows/{component}/{name}/start?instanceID=…;
// the raw body is the input, passed as is.
func (s *Server) daprStart(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if err := api.CheckName("workflow name", name); err != nil {
		return &apiError{status: http.StatusBadRequest, code: codeInvalidArgument, daprCode: "ERR_WORKFLOW_NAME_MISSING",
			msg: "invalid workflow name: " + err.Error()}
	}
	if err := s.checkWorkflow(name); err != nil {
		return err
	}
	q := r.URL.Query()
	id := q.Get("instanceID")
	if id == "" {
		id = q.Get("instanceId")
	}
	if id != "" || q.Has("instanceID") || q.Has("instanceId") {
		if err := daprInstanceID(id); err != nil {
			return err
		}
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	input, err := s.daprPayload("workflow input", body)
	if err != nil {
		return err
	}
	if err := s.checkInput(name, input); err != nil {
		return err
	}
	inst, _, err := s.c.StartWorkflowRaw(r.Context(), name, input, perdure.StartOptions{InstanceID: id})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, api.DaprStartResponse{InstanceID: inst.InstanceID})
	return nil
}

// daprPayload is a raw request body used as a payload, as is (as Dapr
// passes it). With the JSON codec it must be JSON: the workflow could not
// decode anything else, so it is refused before anything is written.
func (s *Server) daprPayload(what string, body []byte) ([]byte, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	if s.jsonCodec && !json.Valid(body) {
		var probe any
		err := json.Unmarshal(body, &probe)
		return nil, &apiError{status: http.StatusBadRequest, code: codeMalformedJSON,
			msg: fmt.Sprintf("the request body (the %s) is not valid JSON: %v; send a JSON value, and quote strings (\"text\")", what, err)}
	}
	return body, nil
}

// daprGet answers GET …/workflows/{component}/{id} with Dapr's workflow
// state document.
func (s *Server) daprGet(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := daprInstanceID(id); err != nil {
		return err
	}
	inst, err := s.c.GetInstance(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, daprState(inst))
	return nil
}

// daprState renders an instance as Dapr does: payloads as JSON text, the
// custom status "" when unset, the output only when completed, and the
// failure as plain strings.
func daprState(inst *perdure.Instance) *api.DaprWorkflowState {
	props := map[string]string{
		api.DaprPropInput:        string(inst.Input),
		api.DaprPropCustomStatus: string(inst.CustomStatus),
	}
	switch {
	case inst.Status == perdure.StatusCompleted:
		props[api.DaprPropOutput] = string(inst.Output)
	case inst.Failure != nil:
		props[api.DaprPropErrorType] = inst.Failure.Type
		props[api.DaprPropErrorMessage] = inst.Failure.Message
		props[api.DaprPropStackTrace] = deepestStack(inst.Failure)
	}
	return &api.DaprWorkflowState{
		InstanceID:    inst.InstanceID,
		WorkflowName:  inst.Name,
		CreatedAt:     inst.CreatedAt.UTC().Format(time.RFC3339Nano),
		LastUpdatedAt: inst.UpdatedAt.UTC().Format(time.RFC3339Nano),
		RuntimeStatus: string(inst.Status),
		Properties:    props,
	}
}

// daprRaise answers POST …/{id}/raiseEvent/{event}; the raw body is the
// event data.
func (s *Server) daprRaise(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := daprInstanceID(id); err != nil {
		return err
	}
	name := r.PathValue("event")
	if err := api.CheckName("event name", name); err != nil {
		return &apiError{status: http.StatusBadRequest, code: codeInvalidArgument, daprCode: "ERR_WORKFLOW_EVENT_NAME_MISSING",
			msg: "invalid event name: " + err.Error()}
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	data, err := s.daprPayload("event data", body)
	if err != nil {
		return err
	}
	if err := s.c.RaiseEventRaw(r.Context(), id, name, data); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// daprControl answers terminate, pause and resume (202, no body).
func (s *Server) daprControl(op func(ctx context.Context, id, reason string) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id := r.PathValue("id")
		if err := daprInstanceID(id); err != nil {
			return err
		}
		if _, err := s.readBody(w, r); err != nil {
			return err
		}
		if err := op(r.Context(), id, ""); err != nil {
			return err
		}
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
}

// daprPurge answers POST …/{id}/purge (202, no body).
func (s *Server) daprPurge(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := daprInstanceID(id); err != nil {
		return err
	}
	if err := s.c.Purge(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// deepestStack is the stack of the innermost failure that has one (an
// activity's panic inside the workflow's ActivityError, for example).
func deepestStack(f *perdure.Failure) string {
	stack := ""
	for ; f != nil; f = f.Cause {
		if f.Stack != "" {
			stack = f.Stack
		}
	}
	return stack
}
