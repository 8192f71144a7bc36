package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/perdure/perdure/server/api"
	"github.com/perdure/perdure/store"
)

// readBody reads the whole request body, at most Config.MaxBodyBytes
// (else an *http.MaxBytesError, answered 413).
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	if r.ContentLength > s.maxBody {
		return nil, &http.MaxBytesError{Limit: s.maxBody}
	}
	return io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
}

// decodeBody reads a JSON object into v. Unknown fields, wrong types and
// trailing data are 400s. An empty body leaves v unchanged when optional.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return &apiError{status: http.StatusBadRequest, code: codeMalformedJSON,
			msg: "the request body is empty: send a JSON object (see GET /api/v1/openapi.json)"}
	}
	return decodeJSON(body, v)
}

func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			return &apiError{status: http.StatusBadRequest, code: codeMalformedJSON,
				msg: "the request body has data after its JSON object: send exactly one JSON object"}
		}
		return nil
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return &apiError{status: http.StatusBadRequest, code: codeMalformedJSON,
			msg: fmt.Sprintf("the request body is not valid JSON: %v (at byte %d)", se, se.Offset)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &apiError{status: http.StatusBadRequest, code: codeMalformedJSON,
			msg: "the request body is not valid JSON: it ends in the middle of a value"}
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return badRequest("the request body must be a JSON object, not %s", withArticle(te.Value))
		}
		return badRequest("field %q must be of type %s, not %s", field, jsonKind(te.Type.Kind().String()), withArticle(te.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return badRequest("the request body has an %s; check its spelling against GET /api/v1/openapi.json",
			strings.TrimPrefix(err.Error(), "json: "))
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	var pe *time.ParseError
	if errors.As(err, &pe) {
		return badRequest("%q is not an RFC 3339 time: use for example \"2024-05-01T12:00:00Z\"", pe.Value)
	}
	return badRequest("the request body could not be decoded: %v", err)
}

func withArticle(jsonType string) string {
	switch jsonType {
	case "array", "object":
		return "an " + jsonType
	}
	return "a " + jsonType
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "slice", "array":
		return "array"
	case "struct", "map", "ptr":
		return "object"
	case "bool":
		return "boolean"
	}
	return "number"
}

// payloadFromJSON checks that raw is JSON and compacts it (so that a retried
// start with the same value is recognised). null and absent are nil.
func payloadFromJSON(what string, raw []byte) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, &apiError{status: http.StatusBadRequest, code: codeMalformedJSON,
			msg: fmt.Sprintf("the %s is not valid JSON: %v (quote strings: \"text\")", what, err)}
	}
	return buf.Bytes(), nil
}

// parseWait reads ?wait= as a Go duration ("30s") or whole seconds ("30"),
// capped at MaxWait. Absent is 0.
func parseWait(r *http.Request) (time.Duration, error) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		n, nerr := strconv.Atoi(v)
		if nerr != nil {
			return 0, badRequest("wait=%q is not a duration: use for example wait=30s or wait=30", v)
		}
		d = time.Duration(n) * time.Second
	}
	if d < 0 {
		return 0, badRequest("wait=%q is negative", v)
	}
	return min(d, MaxWait), nil
}

// extendWriteDeadline lets a long poll outlive the HTTP server's write
// timeout, when it has one.
func extendWriteDeadline(w http.ResponseWriter, wait time.Duration) {
	if wait > 0 {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wait + 30*time.Second))
	}
}

func parseTimeParam(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, badRequest("%s=%q is not an RFC 3339 time: use for example %s=2024-05-01T12:00:00Z", name, v, name)
	}
	return t, nil
}

func parseIntParam(name, v string, lo, hi, def int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, badRequest("%s=%q must be a whole number from %d to %d", name, v, lo, hi)
	}
	return n, nil
}

// parseStatuses reads statuses given as repeated or comma-separated values.
func parseStatuses(param string, values []string, finishedOnly bool) ([]store.Status, error) {
	var out []store.Status
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			part = strings.ToUpper(strings.TrimSpace(part))
			if part == "" {
				continue
			}
			st := store.Status(part)
			if !st.Valid() {
				return nil, badRequest("%s %q is not a status: use PENDING, RUNNING, SUSPENDED, COMPLETED, FAILED, TERMINATED or CONTINUED_AS_NEW", param, part)
			}
			if finishedOnly && !st.Finished() {
				return nil, badRequest("%s %s is not a finished status: only COMPLETED, FAILED, TERMINATED and CONTINUED_AS_NEW instances can be purged", param, part)
			}
			out = append(out, st)
		}
	}
	return out, nil
}

// instanceID reads and checks the {id} path value.
func instanceID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if err := api.CheckInstanceID(id); err != nil {
		return "", badRequest("invalid instance id: %v", err)
	}
	return id, nil
}

// statusURL is the native status URL of an instance.
func statusURL(id string) string {
	return "/api/v1/instances/" + url.PathEscape(id)
}
