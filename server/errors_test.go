package server_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/server"
	"github.com/perdure/perdure/server/api"
	"github.com/perdure/perdure/store/memstore"
)

func TestBadRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{config: func(c *serverConfig) { c.MaxBodyBytes = 1024 }})
	cases := []struct {
		name, method, path, body string
		status                   int
		code                     string
		contains                 string
	}{
		{"malformed JSON", "POST", "/api/v1/instances", `{"workflowName": "Greet",`, 400, api.CodeMalformedJSON, "not valid JSON"},
		{"syntax error", "POST", "/api/v1/instances", `{"workflowName" "Greet"}`, 400, api.CodeMalformedJSON, "byte"},
		{"empty body", "POST", "/api/v1/instances", ``, 400, api.CodeMalformedJSON, "empty"},
		{"two objects", "POST", "/api/v1/instances", `{"workflowName":"Greet"} {}`, 400, api.CodeMalformedJSON, "after"},
		{"not an object", "POST", "/api/v1/instances", `["Greet"]`, 400, api.CodeInvalidArgument, "JSON object"},
		{"wrong field type", "POST", "/api/v1/instances", `{"workflowName": 42}`, 400, api.CodeInvalidArgument, `"workflowName" must be of type string`},
		{"wrong time type", "POST", "/api/v1/instances", `{"workflowName": "Greet", "startAt": "tomorrow"}`, 400, api.CodeInvalidArgument, ""},
		{"unknown field", "POST", "/api/v1/instances", `{"workflow": "Greet"}`, 400, api.CodeInvalidArgument, `unknown field "workflow"`},
		{"no workflow name", "POST", "/api/v1/instances", `{"input": 1}`, 400, api.CodeInvalidArgument, "workflowName is required"},
		{"control char in name", "POST", "/api/v1/instances", `{"workflowName": "a\u0001"}`, 400, api.CodeInvalidArgument, "control character"},
		{"slash in id", "POST", "/api/v1/instances", `{"workflowName": "Greet", "instanceId": "a/b"}`, 400, api.CodeInvalidArgument, "invalid instanceId"},
		{"star in id", "POST", "/api/v1/instances", `{"workflowName": "Greet", "instanceId": "a*"}`, 400, api.CodeInvalidArgument, "invalid instanceId"},
		{"long id", "POST", "/api/v1/instances", `{"workflowName": "Greet", "instanceId": "` + strings.Repeat("i", 257) + `"}`, 400, api.CodeInvalidArgument, "limit is 256"},
		{"control char in path id", "GET", "/api/v1/instances/a%01b", ``, 400, api.CodeInvalidArgument, "control character"},
		{"space in path id", "GET", "/api/v1/instances/a%20b", ``, 400, api.CodeInvalidArgument, "invalid instance id"},
		{"too large", "POST", "/api/v1/instances", `{"workflowName": "Greet", "input": "` + strings.Repeat("x", 2000) + `"}`, 413, api.CodeBodyTooLarge, "1024 bytes"},
		{"too large event", "POST", "/api/v1/instances/x/events/e", `"` + strings.Repeat("x", 2000) + `"`, 413, api.CodeBodyTooLarge, ""},
		{"unknown instance", "GET", "/api/v1/instances/nobody", ``, 404, api.CodeNotFound, `"nobody"`},
		{"unknown instance progress", "GET", "/api/v1/instances/nobody/progress", ``, 404, api.CodeNotFound, ""},
		{"unknown instance terminate", "POST", "/api/v1/instances/nobody/terminate", ``, 404, api.CodeNotFound, ""},
		{"unknown instance purge", "DELETE", "/api/v1/instances/nobody", ``, 404, api.CodeNotFound, ""},
		{"unknown route", "GET", "/api/v1/nothing", ``, 404, api.CodeRouteNotFound, "openapi.json"},
		{"wrong method", "PUT", "/api/v1/instances", ``, 405, api.CodeMethodNotAllowed, "GET or POST"},
		{"bad token", "POST", "/api/v1/activities/complete", `{"taskToken": "garbage"}`, 400, api.CodeBadToken, "task token"},
		{"no token", "POST", "/api/v1/activities/heartbeat", `{}`, 400, api.CodeInvalidArgument, "taskToken is required"},
		{"fail without message", "POST", "/api/v1/activities/fail", `{"taskToken": "x", "error": {}}`, 400, api.CodeInvalidArgument, "error.message"},
		{"bad result JSON", "POST", "/api/v1/activities/complete", `{"taskToken": "x", "result": nope}`, 400, api.CodeMalformedJSON, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, tc.body)
			r.wantError(t, tc.status, tc.code, tc.contains)
			if tc.status == 405 && r.header.Get("Allow") != "GET, POST" {
				t.Fatalf("Allow %q", r.header.Get("Allow"))
			}
		})
	}
	// Nothing was half written by the failed starts.
	var list api.InstanceList
	e.do("GET", "/api/v1/instances", nil).want(t, 200, &list)
	if len(list.Instances) != 0 {
		t.Fatalf("failed starts left %d instances", len(list.Instances))
	}
}

func TestUnknownWorkflowNamesRegistered(t *testing.T) {
	t.Parallel()
	var e *env
	e = newEnv(t, envOptions{config: func(c *serverConfig) { c.Workflows = func() []string { return e.w.WorkflowNames() } }})
	e.do("POST", "/api/v1/instances", `{"workflowName": "Gret"}`).
		wantError(t, 400, api.CodeUnknownWorkflow, `workflow "Gret" is not registered`, "Approval, Async, Compensation, Failing, Greet")
	var wl api.WorkflowList
	e.do("GET", "/api/v1/workflows", nil).want(t, 200, &wl)
	if !wl.Known || len(wl.Workflows) != 7 || wl.Workflows[0] != "Approval" {
		t.Fatalf("workflows %+v", wl)
	}
	e.start("Greet", "ok", "")
}

func TestHealthMetricsExtraAndPanics(t *testing.T) {
	t.Parallel()
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "perdure_up 1\n") })
	ui := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "<html>ui</html>") })
	boom := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("kaboom") })
	e := newEnv(t, envOptions{config: func(c *serverConfig) {
		c.Metrics = metrics
		c.Extra = map[string]http.Handler{"/": ui, "GET /boom": boom, "GET /v1.0/boom": boom}
	}})
	var h api.Health
	e.do("GET", "/healthz", nil).want(t, 200, &h)
	if h.Status != "ok" {
		t.Fatalf("health %+v", h)
	}
	// Dapr's SDKs poll the sidecar's health endpoints before they connect.
	for _, p := range []string{"/v1.0/healthz", "/v1.0/healthz/outbound"} {
		if r := e.do("GET", p, nil); r.status != 204 {
			t.Fatalf("%s: %d %s, want 204", p, r.status, r.body)
		}
	}
	if r := e.do("GET", "/metrics", nil); r.status != 200 || string(r.body) != "perdure_up 1\n" {
		t.Fatalf("metrics %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/some/page", nil); r.status != 200 || string(r.body) != "<html>ui</html>" {
		t.Fatalf("extra %d %s", r.status, r.body)
	}
	// API prefixes keep their JSON 404 even with "/" mounted.
	e.do("GET", "/api/v1/nothing", nil).wantError(t, 404, api.CodeRouteNotFound)
	e.do("GET", "/boom", nil).wantError(t, 500, api.CodeInternal, "server log")
	var de api.DaprError
	e.do("GET", "/v1.0/boom", nil).want(t, 500, &de)
	if de.ErrorCode != "ERR_INTERNAL" {
		t.Fatalf("dapr panic %+v", de)
	}
	// The server still serves after the panics.
	e.do("GET", "/healthz", nil).want(t, 200, nil)
}

func TestHealthUnavailableAndConfig(t *testing.T) {
	t.Parallel()
	if _, err := server.New(server.Config{}); err == nil || !strings.Contains(err.Error(), "Client is required") {
		t.Fatalf("New without client: %v", err)
	}
	st := memstore.New()
	c, err := perdure.NewClient(perdure.Options{Store: st, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := server.New(server.Config{Client: c, Extra: map[string]http.Handler{"GET /healthz": http.NotFoundHandler()}}); err == nil {
		t.Fatal("a conflicting Extra route was accepted")
	}
	h, err := server.New(server.Config{Client: c, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	var body api.Health
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	if rec.Code != http.StatusServiceUnavailable || body.Status != "unavailable" || body.Error == "" {
		t.Fatalf("health on a closed store: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/instances/x", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), api.CodeUnavailable) {
		t.Fatalf("read on a closed store: %d %s", rec.Code, rec.Body)
	}
}

func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	r := e.do("GET", "/api/v1/openapi.json", nil)
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	r.want(t, 200, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.") || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("openapi %q %v", doc.OpenAPI, r.header)
	}
	if _, ok := doc.Paths["/api/v1/instances/{id}"]["get"]; !ok {
		t.Fatalf("paths %v", doc.Paths)
	}
}
