// Package servertest runs a complete Perdure node for tests of HTTP
// clients: an engine on an in-memory store, a worker with a few sample
// workflows, and the HTTP API (package server) on an httptest server.
//
//	env := servertest.Start(t)
//	c, _ := httpclient.New(env.URL)
//
// The sample workflows:
//
//   - Greet(name string) string: one activity, returns "Hello, <name>".
//   - Approval(item string) string: sets its custom status, waits for the
//     event "approval" (a string, the approver) for an hour at most, and
//     returns "<item> approved by <approver>".
//   - Flaky(failures int) int: its activity fails that many times (type
//     Flaky, retried after 10ms) then returns the attempt that succeeded.
//   - Failing(msg string): fails with an error of type OrderError.
//   - Async(packet string) string: its activity Transmit returns
//     activity.ErrResultPending and hands its task token to TaskTokens.
package servertest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/activity"
	"github.com/perdure/perdure/server"
	"github.com/perdure/perdure/store/memstore"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// Env is a running node.
type Env struct {
	// URL is the base URL of the HTTP API.
	URL    string
	Client *perdure.Client
	Worker *worker.Worker
	Server *httptest.Server
}

// Start starts a node; it is stopped when the test ends. configure, when
// given, adjusts the server's configuration.
func Start(t testing.TB, configure ...func(*server.Config)) *Env {
	t.Helper()
	st := memstore.New()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := perdure.NewClient(perdure.Options{Store: st, Logger: log, LeaseDuration: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(c, worker.Options{ShutdownGrace: time.Second, Logger: log})
	if err := Register(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{Client: c, Logger: log, Workflows: w.WorkflowNames}
	for _, f := range configure {
		f(&cfg)
	}
	h, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		_ = w.Stop()
		_ = c.Close()
		_ = st.Close()
	})
	return &Env{URL: srv.URL, Client: c, Worker: w, Server: srv}
}

// Register registers the sample workflows and activities on w.
func Register(w *worker.Worker) error {
	return errors.Join(
		worker.RegisterWorkflow(w, Greet), worker.RegisterActivity(w, Hello),
		worker.RegisterWorkflow(w, Approval),
		worker.RegisterWorkflow(w, Flaky), worker.RegisterActivity(w, Unreliable),
		worker.RegisterWorkflow(w, Failing),
		worker.RegisterWorkflow(w, Async), worker.RegisterActivity(w, Transmit),
	)
}

// Hello returns "Hello, <name>".
func Hello(ctx context.Context, name string) (string, error) { return "Hello, " + name, nil }

// Greet calls Hello.
func Greet(ctx workflow.Context, name string) (string, error) {
	return workflow.ExecuteActivity(ctx, Hello, name).Get(ctx)
}

// Approval waits for the event "approval".
func Approval(ctx workflow.Context, item string) (string, error) {
	if err := workflow.SetCustomStatus(ctx, "waiting for approval of "+item); err != nil {
		return "", err
	}
	who, err := workflow.WaitEventWithTimeout[string](ctx, "approval", time.Hour).Get(ctx)
	if err != nil {
		return "", err
	}
	return item + " approved by " + who, nil
}

// Unreliable fails until its attempt exceeds failures.
func Unreliable(ctx context.Context, failures int) (int, error) {
	if n := activity.GetInfo(ctx).Attempt; n > failures {
		return n, nil
	}
	return 0, activity.NewError("Flaky", "attempt %d failed", activity.GetInfo(ctx).Attempt)
}

// Flaky runs Unreliable with quick retries.
func Flaky(ctx workflow.Context, failures int) (int, error) {
	ctx = workflow.WithRetryPolicy(ctx, workflow.RetryPolicy{InitialInterval: 10 * time.Millisecond, BackoffCoefficient: 1, MaximumAttempts: 10})
	return workflow.ExecuteActivity(ctx, Unreliable, failures).Get(ctx)
}

// Failing fails with an OrderError.
func Failing(ctx workflow.Context, msg string) (string, error) {
	return "", workflow.NewError("OrderError", "%s", msg)
}

var tokens sync.Map // packet -> chan string

// TaskTokens receives the task token of every Transmit attempt for packet.
func TaskTokens(packet string) <-chan string { return tokenChan(packet) }

func tokenChan(packet string) chan string {
	ch, _ := tokens.LoadOrStore(packet, make(chan string, 16))
	return ch.(chan string)
}

// Transmit hands its task token to TaskTokens and returns "result pending".
func Transmit(ctx context.Context, packet string) (string, error) {
	tokenChan(packet) <- activity.GetInfo(ctx).TaskToken
	return "", activity.ErrResultPending
}

// Async waits for Transmit to be completed by task token.
func Async(ctx workflow.Context, packet string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute,
		RetryPolicy: workflow.RetryPolicy{InitialInterval: 10 * time.Millisecond, MaximumAttempts: 3}})
	return workflow.ExecuteActivity(ctx, Transmit, packet).Get(ctx)
}
