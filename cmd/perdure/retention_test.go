package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/store/memstore"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

func Quick(ctx workflow.Context, n int) (int, error) { return n, nil }

// The retention loop purges instances that finished longer ago than the
// retention period, and keeps the others.
func TestRetentionPurge(t *testing.T) {
	st := memstore.New()
	defer st.Close()
	c, err := perdure.NewClient(perdure.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := worker.New(c, worker.Options{})
	if err := worker.RegisterWorkflow(w, Quick); err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	old, err := c.StartWorkflow(ctx, Quick, 1, perdure.StartOptions{InstanceID: "old"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitForCompletion(ctx, old); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := c.StartWorkflow(ctx, Quick, 2, perdure.StartOptions{InstanceID: "young"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitForCompletion(ctx, "young"); err != nil {
		t.Fatal(err)
	}
	loopCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		purgeLoop(loopCtx, c, 200*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
		close(done)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := c.GetInstance(ctx, "old")
		if errors.Is(err, perdure.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("old instance not purged: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	<-done
	if _, err := c.GetInstance(ctx, "young"); err != nil {
		t.Fatalf("an instance younger than the retention was purged: %v", err)
	}
}
