// Package server is Perdure's HTTP API: an http.Handler over a
// perdure.Client that serves
//
//   - the native API under /api/v1 (JSON, versioned documents defined in
//     package server/api, described by the OpenAPI document served at
//     /api/v1/openapi.json),
//   - the Dapr-compatible workflow API under /v1.0, /v1.0-beta1 and
//     /v1.0-alpha1 (what a Dapr sidecar serves, so Dapr clients and curl
//     scripts work unchanged),
//   - /healthz, and /metrics when a metrics handler is configured.
//
// Starting a workflow follows the asynchronous request-reply pattern: the
// start answers 202 Accepted with a Location header (the status URL) and a
// Retry-After header; a client then long-polls the status URL with
// ?wait=30s, which answers as soon as the instance has finished, so that
// no client needs to poll in a loop. See docs/api.md.
//
// The server keeps no global state: everything lives in the Client's store.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/internal/payload"
	"github.com/perdure/perdure/store"
)

// DefaultMaxBodyBytes is the request body limit when Config.MaxBodyBytes
// is zero.
const DefaultMaxBodyBytes = 2 << 20

// MaxWait is the longest long-poll a request may ask for with ?wait=;
// longer waits are shortened to it.
const MaxWait = 5 * time.Minute

// Config configures the HTTP API.
type Config struct {
	// Client is the engine's client; required.
	Client *perdure.Client
	// Logger receives request logs (debug level) and handler failures;
	// default slog.Default().
	Logger *slog.Logger
	// MaxBodyBytes limits request bodies; larger ones get 413. Default
	// 2 MiB.
	MaxBodyBytes int64
	// Workflows lists the registered workflow names when every worker is
	// in-process (perdure dev); when set, a start for another name is 400
	// naming the registered ones. nil, or a func that returns nil (a
	// worker that may serve anything is connected): accept any name.
	Workflows func() []string
	// ValidateInput, when set, checks a start's input against the
	// workflow's input type before anything is written (worker.ValidateInput
	// for in-process workers); an error gives 400. nil: no check.
	ValidateInput func(workflowName string, input []byte) error
	// Metrics is served at /metrics when non-nil.
	Metrics http.Handler
	// Extra mounts more routes (net/http ServeMux patterns, e.g. "/" for a
	// web UI). "/" is left free otherwise.
	Extra map[string]http.Handler
}

// Server is the HTTP API. It implements http.Handler.
type Server struct {
	c        *perdure.Client
	log      *slog.Logger
	maxBody  int64
	names    func() []string
	validate func(string, []byte) error
	mux      *http.ServeMux
	handler  http.Handler
	fallback map[string]bool // patterns of the JSON 404/405 handlers
	routes   []route
	// jsonCodec: the client encodes payloads as JSON, so raw payloads
	// (Dapr bodies) must be JSON.
	jsonCodec bool
	wk        *workerAPI // the worker API (workers.go)
}

// route is one endpoint of the native or Dapr API.
type route struct {
	method, path string
	h            http.HandlerFunc
}

// New returns the HTTP API over cfg.Client.
func New(cfg Config) (*Server, error) {
	if cfg.Client == nil {
		return nil, errors.New("server: Config.Client is required (perdure.NewClient)")
	}
	s := &Server{c: cfg.Client, log: cfg.Logger, maxBody: cfg.MaxBodyBytes, names: cfg.Workflows, validate: cfg.ValidateInput,
		mux: http.NewServeMux(), fallback: map[string]bool{}}
	if s.log == nil {
		s.log = slog.Default()
	}
	_, s.jsonCodec = s.c.Codec().(payload.JSON)
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	s.routes = append(append(s.nativeRoutes(), s.daprRoutes()...), s.workerRoutes()...)
	if err := s.mount(cfg); err != nil {
		return nil, err
	}
	s.handler = s.recoverPanics(s.logRequests(s.mux))
	return s, nil
}

func (s *Server) mount(cfg Config) (err error) {
	defer func() {
		// ServeMux panics on conflicting patterns (an Extra route that
		// collides with an API route).
		if r := recover(); r != nil {
			err = fmt.Errorf("server: %v", r)
		}
	}()
	for _, rt := range s.routes {
		s.mux.HandleFunc(rt.method+" "+rt.path, rt.h)
	}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	// Dapr's sidecar health endpoints, which Dapr's SDKs poll before they
	// connect (204 when healthy, as Dapr answers).
	s.mux.HandleFunc("GET /v1.0/healthz", s.daprHealthz)
	s.mux.HandleFunc("GET /v1.0/healthz/outbound", s.daprHealthz)
	if cfg.Metrics != nil {
		s.mux.Handle("/metrics", cfg.Metrics)
	}
	for _, p := range []string{"/api/v1/", "/v1.0/", "/v1.0-beta1/", "/v1.0-alpha1/"} {
		s.fallback[p] = true
		s.mux.HandleFunc(p, s.noRoute)
	}
	for pattern, h := range cfg.Extra {
		if h == nil {
			return fmt.Errorf("server: Config.Extra[%q] is nil", pattern)
		}
		s.mux.Handle(pattern, h)
	}
	return nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// noRoute answers requests under an API prefix that match no route: 405
// with an Allow header when the path exists for other methods, else 404.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	dapr := !strings.HasPrefix(r.URL.Path, "/api/")
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" && !s.fallback[pattern] {
			allow = append(allow, m)
		}
	}
	var e *apiError
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		e = &apiError{status: http.StatusMethodNotAllowed, code: codeMethodNotAllowed, daprCode: "ERR_METHOD_NOT_ALLOWED",
			msg: fmt.Sprintf("%s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allow, " or "))}
	} else {
		hint := "see GET /api/v1/openapi.json for the routes"
		if dapr {
			hint = "the Dapr-compatible routes are /v1.0/workflows/{component}/…; see docs/api.md"
		}
		e = &apiError{status: http.StatusNotFound, code: codeRouteNotFound, daprCode: "ERR_NOT_FOUND",
			msg: fmt.Sprintf("no route %s %s: %s", r.Method, r.URL.Path, hint)}
	}
	if dapr {
		s.writeDaprError(w, r, "", e)
		return
	}
	s.writeError(w, r, e)
}

// healthz answers 200 {"status":"ok"} when the store answers a read.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if err := s.ping(r); err != nil {
		s.log.Warn("health check failed", "error", err)
		writeJSON(w, http.StatusServiceUnavailable, healthBody("unavailable", err.Error()))
		return
	}
	writeJSON(w, http.StatusOK, healthBody("ok", ""))
}

// daprHealthz answers Dapr's health checks: 204 when the store answers a
// read, 500 otherwise.
func (s *Server) daprHealthz(w http.ResponseWriter, r *http.Request) {
	if err := s.ping(r); err != nil {
		s.log.Warn("health check failed", "error", err)
		writeJSON(w, http.StatusInternalServerError, healthBody("unavailable", err.Error()))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush lets streaming handlers (Config.Extra) flush through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		if w.status == 0 {
			w.status = http.StatusOK
		}
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer (write
// deadlines of long polls, flushing).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw, ok := w.(*statusWriter)
		if !ok {
			sw = &statusWriter{ResponseWriter: w}
		}
		next.ServeHTTP(sw, r)
		if !s.log.Enabled(r.Context(), slog.LevelDebug) {
			return
		}
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "http request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("route", r.Pattern),
			slog.Int("status", sw.status), slog.Int64("bytes", sw.bytes),
			slog.Duration("duration", time.Since(start)), slog.String("remote", r.RemoteAddr))
	})
}

// recoverPanics turns a panic in a handler into a 500 (when nothing was
// written yet) and a log entry, without crashing the process.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler {
				panic(rec)
			}
			s.log.Error("panic in HTTP handler", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(rec),
				"stack", string(debug.Stack()))
			if sw.status != 0 {
				return // headers are out; the client sees a truncated body
			}
			e := &apiError{status: http.StatusInternalServerError, code: codeInternal, daprCode: "ERR_INTERNAL",
				msg: "internal error while handling the request; the server log has the details"}
			if strings.HasPrefix(r.URL.Path, "/v1.0") {
				s.writeDaprError(sw, r, "", e)
				return
			}
			s.writeError(sw, r, e)
		}()
		next.ServeHTTP(sw, r)
	})
}

// registered returns the workflow names the server accepts, sorted, or nil
// when it accepts any.
func (s *Server) registered() []string {
	if s.names == nil {
		return nil
	}
	names := slices.Clone(s.names())
	slices.Sort(names)
	return names
}

// checkWorkflow fails with 400 when Config.Workflows is set and does not
// list name.
// checkInput refuses an input that the workflow could not decode.
func (s *Server) checkInput(name string, input []byte) error {
	if s.validate == nil {
		return nil
	}
	if err := s.validate(name, input); err != nil {
		return &apiError{status: http.StatusBadRequest, code: codeInvalidArgument, daprCode: "ERR_MALFORMED_REQUEST",
			msg: fmt.Sprintf("the input does not fit workflow %s: %v; send the JSON shape its input type expects", name, err)}
	}
	return nil
}

func (s *Server) checkWorkflow(name string) error {
	if s.names == nil {
		return nil
	}
	names := s.registered()
	if names == nil || slices.Contains(names, name) {
		return nil
	}
	list := "none are registered"
	if len(names) > 0 {
		list = "the registered workflows are " + strings.Join(names, ", ")
	}
	return &apiError{status: http.StatusBadRequest, code: codeUnknownWorkflow, daprCode: "ERR_START_WORKFLOW",
		msg: fmt.Sprintf("workflow %q is not registered: %s", name, list)}
}

// healthProbeID names no instance; reading it exercises the store.
const healthProbeID = "\x00healthz"

// ping reads from the store; "not found" is the expected answer.
func (s *Server) ping(r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	_, err := s.c.Store().RunGet(ctx, healthProbeID, "")
	if err == nil || errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}
