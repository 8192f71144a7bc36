// Package remotestore is a store.Store that lives in a Perdure server: every
// call goes over HTTP to the server's worker API (/api/v1/worker/…), which
// applies it to the server's own store (SQLite or PostgreSQL) through the
// server's engine.
//
// It is how remote workers work. An application opens a remote store, runs
// an ordinary client and worker on it in its own process, and registers its
// workflows and activities there; replay, caching, eager and fused
// dispatch, retries and fencing are the same code as in a single process:
//
//	st, err := remotestore.Open(ctx, "http://perdure:3500", remotestore.Options{})
//	c, err := perdure.NewClient(perdure.Options{Store: st})
//	w := worker.New(c, worker.Options{TaskQueue: "gpu"})
//	worker.RegisterActivity(w, Render)
//	w.Run(ctx)
//
// (perdure.Connect does the first two steps.) A worker's claims name the
// workflows and activities it registered and the task queue it serves, so
// the server hands it only work it can run; claims long-poll, so that work
// reaches an idle worker as soon as it is made, without polling. Leases
// and fencing are the server store's: the store is not Exclusive, so the
// leases of a worker that dies expire and its work moves to another
// worker. The server's wake-ups reach the worker's engine through
// Wakeups (store.Notifier).
//
// Reads and claims are retried with backoff while the server cannot be
// reached (for Options.RetryFor). A write (Apply) is retried only when it
// certainly did not reach the server; otherwise its outcome is unknown,
// Apply returns an error, and the engine's leases and fencing take over,
// as after a crash.
//
// Purge is not part of the worker API: purge through the server's HTTP API
// or CLI. The worker API must be reachable only by trusted workers; see
// docs/remote-workers.md.
package remotestore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/perdure/perdure/internal/workerapi"
	"github.com/perdure/perdure/store"
)

// Options configure a remote store. Zero values mean defaults.
type Options struct {
	// HTTPClient makes the requests; default a client of its own. Its
	// Timeout, if any, must exceed Wait.
	HTTPClient *http.Client
	// Identity names this process in the server's list of workers
	// (GET /api/v1/workers); default "<host name>/<process id>".
	Identity string
	// Wait is how long a claim waits on the server for work when none is
	// ready (a long poll), at most 30s. Default 30s; negative: claims
	// answer at once.
	Wait time.Duration
	// RetryFor is how long reads and claims are retried while the server
	// cannot be reached or is restarting. Default 1 minute.
	RetryFor time.Duration
	// RequestTimeout bounds a request other than a claim's long poll,
	// which gets Wait more. Default 2 minutes.
	RequestTimeout time.Duration
	// Logger receives connection problems; default slog.Default().
	Logger *slog.Logger
}

// Store is a store.Store whose records are kept by a Perdure server.
type Store struct {
	base   string
	http   *http.Client
	opts   Options
	log    *slog.Logger
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	closed <-chan struct{} // ctx.Done()

	mu          sync.Mutex
	isClosed    bool
	wakeups     chan store.Wake
	streaming   bool
	streamEnded chan struct{}
}

var (
	_ store.Store    = (*Store)(nil)
	_ store.Notifier = (*Store)(nil)
)

// Open returns a store that calls the Perdure server at baseURL (for
// example "http://127.0.0.1:3500") and checks that the server answers and
// speaks this worker protocol. A server that cannot be reached yet is
// waited for up to Options.RetryFor (or until ctx is done).
func Open(ctx context.Context, baseURL string, opts Options) (*Store, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("remotestore: %q is not a server URL: use for example http://127.0.0.1:3500", baseURL)
	}
	if opts.HTTPClient == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		opts.HTTPClient = &http.Client{Transport: t}
	}
	if opts.Identity == "" {
		host, _ := os.Hostname()
		opts.Identity = fmt.Sprintf("%s/%d", host, os.Getpid())
	}
	switch {
	case opts.Wait == 0:
		opts.Wait = workerapi.MaxWait
	case opts.Wait < 0:
		opts.Wait = 0
	}
	opts.Wait = min(opts.Wait, workerapi.MaxWait)
	if opts.RetryFor <= 0 {
		opts.RetryFor = time.Minute
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 2 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Store{base: strings.TrimSuffix(u.String(), "/"), http: opts.HTTPClient, opts: opts, log: opts.Logger,
		wakeups: make(chan store.Wake, 16)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.closed = s.ctx.Done()
	var res workerapi.NextWakeupResponse
	if err := s.call(ctx, workerapi.PathNextWakeup, struct{}{}, &res, retryAll); err != nil {
		s.cancel()
		return nil, fmt.Errorf("remotestore: cannot use the Perdure server at %s: %w", s.base, err)
	}
	return s, nil
}

// retry says which failures a call retries.
type retry int

const (
	retryUnsent retry = iota // only those where the request certainly did not reach the server (writes)
	retryAll                 // any transport failure and an unavailable server (reads and claims)
)

// call posts in as JSON to path and decodes the answer into out (nil:
// none expected).
func (s *Store) call(ctx context.Context, path string, in, out any, mode retry) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("remotestore: encode request: %w", err)
	}
	timeout := s.opts.RequestTimeout
	if path == workerapi.PathWorkflowClaim || path == workerapi.PathActivityClaim {
		timeout += s.opts.Wait
	}
	var firstFailure time.Time
	delay := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := s.do(ctx, path, body, out, timeout)
		if err == nil {
			return nil
		}
		if s.isClosedNow() {
			return fmt.Errorf("remotestore: %w", store.ErrClosed)
		}
		if ctx.Err() != nil || !retryable(err, mode) {
			return err
		}
		if firstFailure.IsZero() {
			firstFailure = time.Now()
		} else if time.Since(firstFailure) > s.opts.RetryFor {
			return err
		}
		if attempt == 0 {
			s.log.Warn("Perdure server unavailable; retrying", "server", s.base, "path", path, "error", err)
		}
		d := delay/2 + rand.N(delay/2+1)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return err
		case <-s.closed:
			return fmt.Errorf("remotestore: %w", store.ErrClosed)
		}
		delay = min(delay*2, 2*time.Second)
	}
}

// transientError is a failure to reach the server or an answer saying it
// is unavailable.
type transientError struct {
	err    error
	unsent bool // the request certainly did not reach the server
}

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

func retryable(err error, mode retry) bool {
	var te *transientError
	if !errors.As(err, &te) {
		return false
	}
	return mode == retryAll || te.unsent
}

// do makes one request.
func (s *Store) do(ctx context.Context, path string, body []byte, out any, timeout time.Duration) error {
	if s.isClosedNow() {
		return fmt.Errorf("remotestore: %w", store.ErrClosed)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("remotestore: %w", err)
	}
	s.header(req)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		return &transientError{err: fmt.Errorf("remotestore: %s: %w", path, err), unsent: isDialError(err)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return &transientError{err: fmt.Errorf("remotestore: %s: read the answer: %w", path, err)}
	}
	if resp.StatusCode >= 300 {
		return s.answerError(path, resp, b)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("remotestore: %s: decode the answer: %w", path, err)
	}
	return nil
}

func (s *Store) header(req *http.Request) {
	req.Header.Set(workerapi.HeaderProtocol, workerapi.Protocol)
	req.Header.Set(workerapi.HeaderWorker, s.opts.Identity)
}

// answerError turns an error answer into an error that matches the store
// sentinels the server named.
func (s *Store) answerError(path string, resp *http.Response, b []byte) error {
	var body workerapi.ErrorBody
	if json.Unmarshal(b, &body) != nil || body.Error.Message == "" {
		msg := strings.TrimSpace(string(b))
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		err := fmt.Errorf("remotestore: %s: the server answered %s: %s", path, resp.Status, msg)
		if resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusGatewayTimeout {
			return &transientError{err: err}
		}
		return err
	}
	if body.Error.Code == "ROUTE_NOT_FOUND" {
		return fmt.Errorf("remotestore: the server at %s does not serve the worker API (%s): run a Perdure server of the same release as the worker", s.base, body.Error.Message)
	}
	re := workerapi.NewRemoteError(body.Error.Message, body.Error.Sentinels)
	err := fmt.Errorf("remotestore: %s: %w", path, re)
	if re.Closed() {
		// The server is shutting down: nothing was applied.
		return &transientError{err: err, unsent: true}
	}
	if resp.StatusCode == http.StatusServiceUnavailable && path != workerapi.PathApply {
		return &transientError{err: err}
	}
	return err
}

// isDialError reports whether err happened before the request was sent:
// the connection could not be made.
func isDialError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

func (s *Store) isClosedNow() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// Apply sends ops to the server, which commits them in one transaction of
// its engine's group committer.
func (s *Store) Apply(ctx context.Context, ops []store.Op) ([]error, error) {
	if s.isClosedNow() {
		return nil, fmt.Errorf("remotestore: %w", store.ErrClosed)
	}
	if len(ops) == 0 {
		return []error{}, ctx.Err()
	}
	wire, err := workerapi.EncodeOps(ops)
	if err != nil {
		return nil, err
	}
	var res workerapi.ApplyResponse
	if err := s.call(ctx, workerapi.PathApply, workerapi.ApplyRequest{Ops: wire}, &res, retryUnsent); err != nil {
		if errors.Is(err, store.ErrClosed) {
			return nil, err
		}
		var te *transientError
		if errors.As(err, &te) && !te.unsent {
			return nil, fmt.Errorf("%w (the outcome of the %d ops is unknown: leases and fencing settle it)", err, len(ops))
		}
		return nil, err
	}
	if len(res.Results) != len(ops) {
		return nil, fmt.Errorf("remotestore: apply: the server answered %d results for %d ops", len(res.Results), len(ops))
	}
	errs := make([]error, len(ops))
	for i, op := range ops {
		errs[i] = res.Results[i].ApplyTo(op)
	}
	return errs, nil
}

// WorkflowTaskClaim claims runs on the server, waiting up to Options.Wait
// there for one to be ready.
func (s *Store) WorkflowTaskClaim(ctx context.Context, p *store.WorkflowTaskClaimParams) ([]*store.WorkflowTask, error) {
	var res workerapi.WorkflowClaimResponse
	err := s.call(ctx, workerapi.PathWorkflowClaim, workerapi.WorkflowClaimRequest{Params: *p, Wait: workerapi.Duration(s.opts.Wait)}, &res, retryAll)
	return res.Tasks, err
}

// ActivityTaskClaim claims activity tasks on the server, waiting up to
// Options.Wait there for one to be ready.
func (s *Store) ActivityTaskClaim(ctx context.Context, p *store.ActivityTaskClaimParams) ([]*store.ClaimedActivity, error) {
	var res workerapi.ActivityClaimResponse
	err := s.call(ctx, workerapi.PathActivityClaim, workerapi.ActivityClaimRequest{Params: *p, Wait: workerapi.Duration(s.opts.Wait)}, &res, retryAll)
	return res.Tasks, err
}

// LeasesRelease releases the leases of owner, a worker that stops. Owner
// "" (every owner's leases) is refused: only the server does that.
func (s *Store) LeasesRelease(ctx context.Context, owner string) error {
	if s.isClosedNow() {
		return fmt.Errorf("remotestore: %w", store.ErrClosed)
	}
	if owner == "" {
		return errors.New("remotestore: a remote worker releases only its own leases: the owner is empty")
	}
	return s.call(ctx, workerapi.PathLeasesRelease, workerapi.LeasesReleaseRequest{Owner: owner}, nil, retryAll)
}

// RunGet implements store.Store.
func (s *Store) RunGet(ctx context.Context, instanceID, runID string) (*store.Run, error) {
	var run store.Run
	if err := s.call(ctx, workerapi.PathRunGet, workerapi.RunGetRequest{InstanceID: instanceID, RunID: runID}, &run, retryAll); err != nil {
		return nil, err
	}
	return &run, nil
}

// RunList implements store.Store.
func (s *Store) RunList(ctx context.Context, p *store.RunListParams) (*store.RunListResult, error) {
	var res workerapi.RunListResponse
	if err := s.call(ctx, workerapi.PathRunList, p, &res, retryAll); err != nil {
		return nil, err
	}
	return &res, nil
}

// RunCounts implements store.Store.
func (s *Store) RunCounts(ctx context.Context, p *store.RunListParams) (map[store.Status]int64, error) {
	var res workerapi.RunCountsResponse
	if err := s.call(ctx, workerapi.PathRunCounts, p, &res, retryAll); err != nil {
		return nil, err
	}
	if res.Counts == nil {
		res.Counts = map[store.Status]int64{}
	}
	return res.Counts, nil
}

// HistoryGet implements store.Store.
func (s *Store) HistoryGet(ctx context.Context, p *store.HistoryGetParams) ([]*store.Event, error) {
	var res workerapi.HistoryGetResponse
	err := s.call(ctx, workerapi.PathHistoryGet, p, &res, retryAll)
	return res.Events, err
}

// MessageList implements store.Store.
func (s *Store) MessageList(ctx context.Context, runID string) ([]*store.Message, error) {
	var res workerapi.MessageListResponse
	err := s.call(ctx, workerapi.PathMessageList, workerapi.RunRequest{RunID: runID}, &res, retryAll)
	return res.Messages, err
}

// ActivityTaskList implements store.Store.
func (s *Store) ActivityTaskList(ctx context.Context, runID string) ([]*store.ActivityTask, error) {
	var res workerapi.ActivityTaskListResponse
	err := s.call(ctx, workerapi.PathActivityList, workerapi.RunRequest{RunID: runID}, &res, retryAll)
	return res.Tasks, err
}

// ActivityTaskGet implements store.Store.
func (s *Store) ActivityTaskGet(ctx context.Context, runID string, seq int64) (*store.ActivityTask, error) {
	var res workerapi.ActivityTaskResponse
	if err := s.call(ctx, workerapi.PathActivityGet, workerapi.ActivityTaskRequest{RunID: runID, Seq: seq}, &res, retryAll); err != nil {
		return nil, err
	}
	if res.Task == nil {
		return nil, fmt.Errorf("remotestore: activity task %s/%d: %w", runID, seq, store.ErrNotFound)
	}
	return res.Task, nil
}

// NextWakeup implements store.Store: the server store's next wake-up.
func (s *Store) NextWakeup(ctx context.Context, after time.Time) (time.Time, bool, error) {
	var res workerapi.NextWakeupResponse
	if err := s.call(ctx, workerapi.PathNextWakeup, workerapi.NextWakeupRequest{After: after}, &res, retryAll); err != nil {
		return time.Time{}, false, err
	}
	return res.At, res.OK, nil
}

// ErrPurgeNotSupported is returned by Purge.
var ErrPurgeNotSupported = errors.New("purge is not part of the worker API: purge through the server " +
	"(DELETE /api/v1/instances/{id}, POST /api/v1/purge, or perdure workflow purge)")

// Purge is not part of the worker API; it fails with ErrPurgeNotSupported.
func (s *Store) Purge(ctx context.Context, p *store.PurgeParams) (int, error) {
	if s.isClosedNow() {
		return 0, fmt.Errorf("remotestore: %w", store.ErrClosed)
	}
	return 0, fmt.Errorf("remotestore: %w", ErrPurgeNotSupported)
}

// Exclusive reports false: the server's store is shared by the server and
// its workers, and leases of a worker that dies expire.
func (s *Store) Exclusive() bool { return false }

// Close ends the store's requests and its wake-up stream; later calls fail
// with store.ErrClosed. It does not change anything on the server: leases
// held by this process's workers are released by their graceful stop, or
// expire.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.isClosed {
		s.mu.Unlock()
		return nil
	}
	s.isClosed = true
	s.cancel()
	streaming, ended := s.streaming, s.streamEnded
	s.mu.Unlock()
	if streaming {
		<-ended
	} else {
		close(s.wakeups)
	}
	return nil
}

// Wakeups implements store.Notifier: it reports the work the server's
// engine made ready and did not hand out at once, from a stream the
// store keeps open (and reopens) until it is closed. After the stream was
// broken, both kinds are reported, as work may have appeared meanwhile.
func (s *Store) Wakeups() <-chan store.Wake {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.streaming && !s.isClosed {
		s.streaming = true
		s.streamEnded = make(chan struct{})
		go s.stream()
	}
	return s.wakeups
}

func (s *Store) stream() {
	defer close(s.streamEnded)
	defer close(s.wakeups)
	delay := 100 * time.Millisecond
	for !s.isClosedNow() {
		began := time.Now()
		err := s.readWakeups()
		if s.isClosedNow() {
			return
		}
		if time.Since(began) > time.Minute {
			delay = 100 * time.Millisecond
		}
		s.log.Debug("wake-up stream from the Perdure server ended; reconnecting", "server", s.base, "error", err, "in", delay)
		select {
		case <-time.After(delay/2 + rand.N(delay/2+1)):
		case <-s.closed:
			return
		}
		delay = min(delay*2, 5*time.Second)
	}
}

// readWakeups reads one connection of the wake-up stream until it breaks.
func (s *Store) readWakeups() error {
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+workerapi.PathWakeups, nil)
	if err != nil {
		return err
	}
	s.header(req)
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return s.answerError(workerapi.PathWakeups, resp, b)
	}
	// The server writes a line at least every 15s: a silent connection is
	// dead.
	idle := time.AfterFunc(time.Minute, cancel)
	defer idle.Stop()
	sc := bufio.NewScanner(resp.Body)
	first := true
	for sc.Scan() {
		idle.Reset(time.Minute)
		var u workerapi.Wakeup
		if err := json.Unmarshal(sc.Bytes(), &u); err != nil {
			return fmt.Errorf("wake-up stream: %w", err)
		}
		var k store.Wake
		if u.Workflow {
			k |= store.WakeWorkflow
		}
		if u.Activity {
			k |= store.WakeActivity
		}
		if first {
			// Connected (again): work may have appeared while it was not.
			k, first = store.WakeWorkflow|store.WakeActivity, false
		}
		if k == 0 {
			continue
		}
		select {
		case s.wakeups <- k:
		case <-s.closed:
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return io.ErrUnexpectedEOF
}
