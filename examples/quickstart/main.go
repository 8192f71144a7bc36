// Command quickstart runs a durable task chain on an embedded SQLite file.
//
//	go run ./examples/quickstart
//
// Stop it with Ctrl-C (or kill -9) while it runs and start it again: the
// workflow resumes after the last completed step, and completed steps do not
// run again.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/store/sqlitestore"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// Step is a slow activity: it takes a second and adds one.
func Step(ctx context.Context, n int) (int, error) {
	fmt.Printf("  step: received %d, working…\n", n)
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return n + 1, nil
}

// CountWorkflow runs Step five times in a row, with a durable timer between.
func CountWorkflow(ctx workflow.Context, n int) (int, error) {
	for i := 0; i < 5; i++ {
		var err error
		if n, err = workflow.ExecuteActivity(ctx, Step, n).Get(ctx); err != nil {
			return 0, err
		}
		if err := workflow.Sleep(ctx, 500*time.Millisecond); err != nil {
			return 0, err
		}
	}
	return n, nil
}

func main() {
	db := flag.String("db", ".perdure/quickstart.db", "SQLite file")
	id := flag.String("id", "count-1", "workflow instance id")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	st, err := sqlitestore.Open(*db, sqlitestore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	c, err := perdure.NewClient(perdure.Options{Store: st})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	w := worker.New(c, worker.Options{})
	if err := errors.Join(worker.RegisterWorkflow(w, CountWorkflow), worker.RegisterActivity(w, Step)); err != nil {
		log.Fatal(err)
	}
	if err := w.Start(); err != nil {
		log.Fatal(err)
	}
	defer w.Stop()

	inst, err := c.GetInstance(ctx, *id)
	switch {
	case errors.Is(err, perdure.ErrNotFound):
		fmt.Printf("starting %s in %s\n", *id, *db)
		if _, err := c.StartWorkflow(ctx, CountWorkflow, 0, perdure.StartOptions{InstanceID: *id}); err != nil {
			log.Fatal(err)
		}
	case err != nil:
		log.Fatal(err)
	case inst.Status.Finished():
		fmt.Printf("%s already finished (%s) with output %s; use -id to start another\n", *id, inst.Status, inst.Output)
		return
	default:
		fmt.Printf("resuming %s (%s)\n", *id, inst.Status)
	}
	out, err := perdure.GetResult[int](ctx, c, *id)
	if err != nil {
		fmt.Println("stopped:", err)
		return
	}
	fmt.Printf("%s completed: %d\n", *id, out)
}
