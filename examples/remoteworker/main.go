// Command remoteworker is a worker in a process of its own, connected to a
// Perdure server over HTTP: the server keeps the state, this process runs
// the code. Run the server, the worker, and a workflow, each in a
// terminal:
//
//	perdure server --store /tmp/perdure-remote.db
//	go run ./examples/remoteworker
//	perdure workflow run ReportWorkflow --input '"2024-Q3"'
//
// ReportWorkflow collects figures (activity CollectFigures, on the default
// task queue) and renders them (activity RenderReport, on the task queue
// "reports", where a renderer would be installed). By default this process
// serves both queues, with one worker each; --serve main or --serve
// reports makes it serve one, so that two processes share the work:
//
//	go run ./examples/remoteworker --serve main
//	go run ./examples/remoteworker --serve reports
//
// Kill a worker (Ctrl-C, or kill -9) while it runs and start it again: the
// workflow goes on where it was. See docs/remote-workers.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// ReportsQueue is the task queue of the rendering activity.
const ReportsQueue = "reports"

// Figures are what CollectFigures returns.
type Figures struct {
	Period string `json:"period"`
	Orders int    `json:"orders"`
	Total  int    `json:"total"`
}

// ReportWorkflow collects the figures of a period and renders a report.
func ReportWorkflow(ctx workflow.Context, period string) (string, error) {
	figures, err := workflow.ExecuteActivity(ctx, CollectFigures, period).Get(ctx)
	if err != nil {
		return "", err
	}
	render := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{TaskQueue: ReportsQueue, StartToCloseTimeout: time.Minute})
	return workflow.ExecuteActivity(render, RenderReport, figures).Get(ctx)
}

// CollectFigures adds up the orders of a period (made up here).
func CollectFigures(ctx context.Context, period string) (Figures, error) {
	orders := 0
	for _, c := range period {
		orders += int(c)
	}
	log.Printf("CollectFigures(%q) in process %d", period, os.Getpid())
	return Figures{Period: period, Orders: orders % 97, Total: orders * 13}, nil
}

// RenderReport renders the figures; it takes a couple of seconds.
func RenderReport(ctx context.Context, f Figures) (string, error) {
	log.Printf("RenderReport(%s) in process %d", f.Period, os.Getpid())
	select {
	case <-time.After(2 * time.Second):
	case <-ctx.Done():
		return "", ctx.Err()
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("report %s: %d orders, total %d (rendered by %s/%d)", f.Period, f.Orders, f.Total, host, os.Getpid()), nil
}

// run connects to the server at url and serves until ctx is done: serve is
// "all", "main" (the workflow and CollectFigures) or "reports"
// (RenderReport).
func run(ctx context.Context, url, serve string) error {
	if serve != "all" && serve != "main" && serve != "reports" {
		return fmt.Errorf("--serve %q: use all, main or reports", serve)
	}
	c, err := perdure.Connect(ctx, url, perdure.Options{})
	if err != nil {
		return err
	}
	defer c.Close()
	var workers []*worker.Worker
	if serve != "reports" {
		w := worker.New(c, worker.Options{})
		if err := errors.Join(worker.RegisterWorkflow(w, ReportWorkflow), worker.RegisterActivity(w, CollectFigures)); err != nil {
			return err
		}
		workers = append(workers, w)
	}
	if serve != "main" {
		w := worker.New(c, worker.Options{TaskQueue: ReportsQueue})
		if err := worker.RegisterActivity(w, RenderReport); err != nil {
			return err
		}
		workers = append(workers, w)
	}
	for _, w := range workers {
		if err := w.Start(); err != nil {
			return err
		}
	}
	log.Printf("worker %d serving %s, connected to %s; Ctrl-C stops it", os.Getpid(), serve, url)
	<-ctx.Done()
	for _, w := range workers {
		err = errors.Join(err, w.Stop())
	}
	return err
}

func main() {
	url := flag.String("address", envOr("PERDURE_ADDRESS", "http://127.0.0.1:3500"), "URL of the Perdure server (env PERDURE_ADDRESS)")
	serve := flag.String("serve", "all", "what this process serves: all, main (ReportWorkflow, CollectFigures) or reports (RenderReport)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *url, *serve); err != nil {
		log.Fatal(err)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
