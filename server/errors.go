package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/server/api"
	"github.com/perdure/perdure/store"
)

const (
	codeInvalidArgument  = api.CodeInvalidArgument
	codeMalformedJSON    = api.CodeMalformedJSON
	codeUnknownWorkflow  = api.CodeUnknownWorkflow
	codeBadToken         = api.CodeBadToken
	codeNotFound         = api.CodeNotFound
	codeRouteNotFound    = api.CodeRouteNotFound
	codeMethodNotAllowed = api.CodeMethodNotAllowed
	codeConflict         = api.CodeConflict
	codeNotRunning       = api.CodeNotRunning
	codeStillRunning     = api.CodeStillRunning
	codeTokenRejected    = api.CodeTokenRejected
	codeBodyTooLarge     = api.CodeBodyTooLarge
	codeInternal         = api.CodeInternal
	codeUnavailable      = api.CodeUnavailable
)

// apiError is an error with the HTTP status and codes it is answered with.
type apiError struct {
	status   int
	code     string // native API code
	daprCode string // Dapr errorCode; "" uses the operation's code
	msg      string
}

func (e *apiError) Error() string { return e.msg }

// badRequest is a 400 INVALID_ARGUMENT.
func badRequest(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeInvalidArgument, msg: fmt.Sprintf(format, args...)}
}

// errorTable maps the perdure sentinel errors (tested with errors.Is, in
// this order) to HTTP statuses, codes and a hint on what to do next.
var errorTable = []struct {
	err      error
	status   int
	code     string
	daprCode string
	hint     string
}{
	{perdure.ErrTokenRejected, http.StatusConflict, codeTokenRejected, "", ""},
	{perdure.ErrBadToken, http.StatusBadRequest, codeBadToken, "", "pass the task token exactly as activity.GetInfo(ctx).TaskToken gave it"},
	{perdure.ErrNotFound, http.StatusNotFound, codeNotFound, "ERR_INSTANCE_ID_NOT_FOUND", "check the instance id (GET /api/v1/instances lists them)"},
	{perdure.ErrConflict, http.StatusConflict, codeConflict, "", ""},
	{perdure.ErrNotRunning, http.StatusConflict, codeNotRunning, "", "start a new run to continue"},
	{perdure.ErrStillRunning, http.StatusConflict, codeStillRunning, "", "wait for it to finish or terminate it first"},
	{store.ErrClosed, http.StatusServiceUnavailable, codeUnavailable, "", "the server is shutting down; retry on another node or later"},
	{context.DeadlineExceeded, http.StatusServiceUnavailable, codeUnavailable, "", "the store did not answer in time; retry later"},
}

// classify turns any error into an apiError.
func classify(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &apiError{status: http.StatusRequestEntityTooLarge, code: codeBodyTooLarge, daprCode: "ERR_BODY_TOO_LARGE",
			msg: fmt.Sprintf("the request body is larger than the server's limit of %d bytes: send a smaller payload (or raise --max-body-bytes)", mbe.Limit)}
	}
	for _, t := range errorTable {
		if errors.Is(err, t.err) {
			msg := err.Error()
			if t.hint != "" {
				msg += "; " + t.hint
			}
			return &apiError{status: t.status, code: t.code, daprCode: t.daprCode, msg: msg}
		}
	}
	return &apiError{status: http.StatusInternalServerError, code: codeInternal, msg: err.Error()}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(api.ErrorBody{Error: api.ErrorDetail{Code: codeInternal, Message: "encode response: " + err.Error()}})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// writeError answers err in the native format {"error":{"code","message"}}.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := classify(err)
	s.logFailure(r, e, err)
	writeJSON(w, e.status, api.ErrorBody{Error: api.ErrorDetail{Code: e.code, Message: e.msg}})
}

// writeDaprError answers err in Dapr's format {"errorCode","message"};
// opCode is the operation's Dapr code (ERR_START_WORKFLOW, …) used when
// the error has no more specific one.
func (s *Server) writeDaprError(w http.ResponseWriter, r *http.Request, opCode string, err error) {
	e := classify(err)
	s.logFailure(r, e, err)
	code := e.daprCode
	switch {
	case code != "":
	case e.code == codeMalformedJSON || e.code == codeInvalidArgument:
		code = "ERR_MALFORMED_REQUEST"
	case opCode != "":
		code = opCode
	default:
		code = "ERR_INTERNAL"
	}
	writeJSON(w, e.status, api.DaprError{ErrorCode: code, Message: e.msg})
}

func (s *Server) logFailure(r *http.Request, e *apiError, err error) {
	if e.status >= 500 {
		s.log.Error("HTTP request failed", "method", r.Method, "path", r.URL.Path, "status", e.status, "error", err)
	}
}

func healthBody(status, errMsg string) api.Health { return api.Health{Status: status, Error: errMsg} }
