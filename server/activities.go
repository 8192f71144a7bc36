package server

import (
	"net/http"

	"github.com/perdure/perdure/activity"
	"github.com/perdure/perdure/internal/payload"
	"github.com/perdure/perdure/server/api"
)

// The activity endpoints act on one attempt of an activity that returned
// activity.ErrResultPending, named by its task token.

func checkToken(tok string) error {
	if tok == "" {
		return badRequest(`taskToken is required: send {"taskToken": "…"} with the token from activity.GetInfo(ctx).TaskToken`)
	}
	return nil
}

// completeActivity answers POST /api/v1/activities/complete.
func (s *Server) completeActivity(w http.ResponseWriter, r *http.Request) error {
	var req api.CompleteActivityRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	if err := checkToken(req.TaskToken); err != nil {
		return err
	}
	result, err := payloadFromJSON("result", req.Result)
	if err != nil {
		return err
	}
	if err := s.c.CompleteActivityRaw(r.Context(), req.TaskToken, result); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// failActivity answers POST /api/v1/activities/fail.
func (s *Server) failActivity(w http.ResponseWriter, r *http.Request) error {
	var req api.FailActivityRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	if err := checkToken(req.TaskToken); err != nil {
		return err
	}
	if req.Error.Message == "" {
		return badRequest(`error.message is required: send {"taskToken": "…", "error": {"message": "what went wrong", "type": "MyError"}}`)
	}
	details, err := payloadFromJSON("error.details", req.Error.Details)
	if err != nil {
		return err
	}
	cause := &activity.ApplicationError{Message: req.Error.Message, Type: req.Error.Type,
		NonRetryable: req.Error.NonRetryable, Details: details}
	if err := s.c.FailActivity(r.Context(), req.TaskToken, cause); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// heartbeatActivity answers POST /api/v1/activities/heartbeat.
func (s *Server) heartbeatActivity(w http.ResponseWriter, r *http.Request) error {
	var req api.HeartbeatActivityRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	if err := checkToken(req.TaskToken); err != nil {
		return err
	}
	raw, err := payloadFromJSON("details", req.Details)
	if err != nil {
		return err
	}
	var details any // nil keeps the previous details
	if raw != nil {
		details = payload.Payload(raw) // passed through the codec as is
	}
	if err := s.c.HeartbeatActivity(r.Context(), req.TaskToken, details); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}
