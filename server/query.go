package server

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/internal/history"
	"github.com/perdure/perdure/server/api"
	"github.com/perdure/perdure/store"
)

// Page sizes.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// list answers GET /api/v1/instances with filters status (repeated or
// comma-separated), name, instanceId, instanceIdPrefix, createdAfter,
// createdBefore, allRuns, pageSize and pageToken.
func (s *Server) list(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	statuses, err := parseStatuses("status", q["status"], false)
	if err != nil {
		return err
	}
	f, err := parseFilter(q)
	if err != nil {
		return err
	}
	f.Statuses = statuses
	if f.PageSize, err = parseIntParam("pageSize", q.Get("pageSize"), 1, maxPageSize, defaultPageSize); err != nil {
		return err
	}
	if f.PageToken, err = decodePageToken(q.Get("pageToken")); err != nil {
		return err
	}
	page, err := s.c.ListInstances(r.Context(), f)
	if err != nil {
		return err
	}
	out := &api.InstanceList{Schema: api.SchemaInstanceList, Instances: make([]*api.Instance, 0, len(page.Instances)),
		NextPageToken: encodePageToken(page.NextPageToken)}
	for _, in := range page.Instances {
		out.Instances = append(out.Instances, toInstance(in))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// parseFilter reads the filters shared by the list and counts routes:
// name, instanceId, instanceIdPrefix, createdAfter, createdBefore, allRuns.
func parseFilter(q url.Values) (perdure.ListFilter, error) {
	f := perdure.ListFilter{Name: q.Get("name")}
	id, prefix := q.Get("instanceId"), q.Get("instanceIdPrefix")
	switch {
	case id != "" && prefix != "":
		return f, badRequest("give instanceId (exact) or instanceIdPrefix, not both")
	case id != "":
		if err := api.CheckInstanceID(id); err != nil {
			return f, badRequest("invalid instanceId: %v", err)
		}
		f.InstanceID = id
	case prefix != "":
		if err := api.CheckInstanceID(prefix); err != nil {
			return f, badRequest("invalid instanceIdPrefix: %v", err)
		}
		f.InstanceID = prefix + "*"
	}
	var err error
	if f.CreatedAfter, err = parseTimeParam("createdAfter", q.Get("createdAfter")); err != nil {
		return f, err
	}
	if f.CreatedBefore, err = parseTimeParam("createdBefore", q.Get("createdBefore")); err != nil {
		return f, err
	}
	if v := q.Get("allRuns"); v != "" {
		if f.AllRuns, err = strconv.ParseBool(v); err != nil {
			return f, badRequest("allRuns=%q must be true or false", v)
		}
	}
	return f, nil
}

// counts answers GET /api/v1/instances/counts: instances by status, with
// the list filters but status and paging.
func (s *Server) counts(w http.ResponseWriter, r *http.Request) error {
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		return err
	}
	m, err := s.c.CountInstances(r.Context(), f)
	if err != nil {
		return err
	}
	out := &api.InstanceCounts{Schema: api.SchemaInstanceCounts, Counts: map[api.Status]int64{}}
	for st, n := range m {
		out.Counts[api.Status(st)] = n
		out.Total += n
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// Page tokens wrap the store's cursor so that a mangled token is a 400,
// not a store error.
const pageTokenPrefix = "p1."

func encodePageToken(cursor string) string {
	if cursor == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(pageTokenPrefix + cursor))
}

func decodePageToken(tok string) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || !strings.HasPrefix(string(b), pageTokenPrefix) || len(b) == len(pageTokenPrefix) {
		return "", badRequest("pageToken %q is not a page token: pass the nextPageToken of the previous page, or none for the first page", tok)
	}
	return strings.TrimPrefix(string(b), pageTokenPrefix), nil
}

// history answers GET /api/v1/instances/{id}/history[?runId=…]: the whole
// history, or with pageSize one page (pageToken is the nextPageToken of
// the previous page).
func (s *Server) history(w http.ResponseWriter, r *http.Request) error {
	id, err := instanceID(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	size, err := parseIntParam("pageSize", q.Get("pageSize"), 1, maxPageSize, 0)
	if err != nil {
		return err
	}
	var after int64
	if tok := q.Get("pageToken"); tok != "" {
		if after, err = strconv.ParseInt(tok, 10, 64); err != nil || after < 0 {
			return badRequest("pageToken %q is not a page token: pass the nextPageToken of the previous page", tok)
		}
	}
	inst, err := s.c.GetRun(r.Context(), id, q.Get("runId"))
	if err != nil {
		return err
	}
	limit := 0
	if size > 0 {
		limit = size + 1
	}
	stored, err := s.c.Store().HistoryGet(r.Context(), &store.HistoryGetParams{RunID: inst.RunID, AfterID: after, Limit: limit})
	if err != nil {
		return err
	}
	out := &api.History{Schema: api.SchemaHistory, InstanceID: inst.InstanceID, RunID: inst.RunID, WorkflowName: inst.Name,
		Status: inst.Status, Events: make([]*api.Event, 0, len(stored))}
	if size > 0 && len(stored) > size {
		stored = stored[:size]
		out.NextPageToken = strconv.FormatInt(stored[size-1].ID, 10)
	}
	for _, se := range stored {
		ev, err := history.Decode(se)
		if err != nil {
			return err
		}
		out.Events = append(out.Events, ev)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// purgeOne answers DELETE /api/v1/instances/{id}.
func (s *Server) purgeOne(w http.ResponseWriter, r *http.Request) error {
	id, err := instanceID(r)
	if err != nil {
		return err
	}
	if err := s.c.Purge(r.Context(), id); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.PurgeResult{Purged: 1})
	return nil
}

// purgeWhere answers POST /api/v1/purge.
func (s *Server) purgeWhere(w http.ResponseWriter, r *http.Request) error {
	var req api.PurgeRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	var raw []string
	for _, st := range req.Statuses {
		raw = append(raw, string(st))
	}
	statuses, err := parseStatuses("status", raw, true)
	if err != nil {
		return err
	}
	f := perdure.PurgeFilter{Statuses: statuses, Name: req.WorkflowName, Limit: req.Limit}
	if req.Limit < 0 {
		return badRequest("limit %d is negative; use 0 for no limit", req.Limit)
	}
	switch {
	case req.FinishedBefore != nil && req.OlderThan != "":
		return badRequest("give finishedBefore or olderThan, not both")
	case req.FinishedBefore != nil:
		f.FinishedBefore = *req.FinishedBefore
	case req.OlderThan != "":
		d, err := time.ParseDuration(req.OlderThan)
		if err != nil || d <= 0 {
			return badRequest("olderThan %q is not a positive duration: use for example \"24h\" or \"30m\"", req.OlderThan)
		}
		f.FinishedBefore = time.Now().Add(-d)
	}
	if len(f.Statuses) == 0 && f.Name == "" && f.FinishedBefore.IsZero() && !req.All {
		return badRequest(`the purge has no filter: give statuses, workflowName, finishedBefore or olderThan, or "all": true to purge every finished instance`)
	}
	n, err := s.c.PurgeWhere(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.PurgeResult{Purged: n})
	return nil
}
