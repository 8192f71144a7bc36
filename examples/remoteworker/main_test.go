package main

import (
	"context"
	"io"
	"log"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/server"
	"github.com/perdure/perdure/store/memstore"
)

// Two worker processes (here two connections of one test) share the
// work: the workflow waits in RenderReport until a worker of the
// "reports" queue connects.
func TestReportAcrossWorkers(t *testing.T) {
	log.SetOutput(io.Discard)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := memstore.New()
	c, err := perdure.NewClient(perdure.Options{Store: st, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h, err := server.New(server.Config{Client: c, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(h)
	ts.Config.RegisterOnShutdown(h.Shutdown)
	ts.Start()
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	serve := func(what string) func() {
		wctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- run(wctx, ts.URL, what) }()
		return func() {
			stop()
			if err := <-done; err != nil {
				t.Errorf("worker %s: %v", what, err)
			}
		}
	}
	defer serve("main")()

	id, err := c.StartWorkflow(ctx, "ReportWorkflow", "2024-Q3", perdure.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	inst, err := c.GetInstance(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if inst.Status != perdure.StatusRunning {
		t.Fatalf("without a reports worker: %s, want RUNNING", inst.Status)
	}

	defer serve("reports")()
	out, err := perdure.GetResult[string](ctx, c, id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "report 2024-Q3: ") {
		t.Fatalf("output %q", out)
	}
}

func TestServeFlag(t *testing.T) {
	if err := run(context.Background(), "http://127.0.0.1:1", "everything"); err == nil || !strings.Contains(err.Error(), "use all, main or reports") {
		t.Fatalf("got %v", err)
	}
}
