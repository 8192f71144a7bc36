package worker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/store/memstore"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

type order struct {
	Name     string
	Quantity int
}

func OrderWorkflow(ctx workflow.Context, o order) (bool, error) { return o.Quantity > 0, nil }

func TestValidateInput(t *testing.T) {
	c, err := perdure.NewClient(perdure.Options{Store: memstore.New()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := worker.New(c, worker.Options{})
	if err := worker.RegisterWorkflow(w, OrderWorkflow); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, input string
		ok          bool
	}{
		{"OrderWorkflow", `{"Name":"Paperclips","Quantity":1}`, true},
		{"OrderWorkflow", ``, true}, // no input: the zero value
		{"OrderWorkflow", `{"Name":"Paperclips","Quantity":"one"}`, false},
		{"OrderWorkflow", `[1,2]`, false},
		{"OrderWorkflow", `{not json`, false},
	}
	for _, tc := range cases {
		if err := w.ValidateInput(tc.name, []byte(tc.input)); (err == nil) != tc.ok {
			t.Errorf("ValidateInput(%s, %s) = %v, want ok=%v", tc.name, tc.input, err, tc.ok)
		}
	}
	if err := w.ValidateInput("Nope", nil); !errors.Is(err, worker.ErrUnknownWorkflow) {
		t.Fatalf("unknown workflow: %v", err)
	}
}

func BadResult(context.Context, int) (chan int, error) { return make(chan int), nil }

func CallsBadResult(ctx workflow.Context, _ int) (string, error) {
	_, err := workflow.ExecuteActivity(ctx, BadResult, 1).Get(ctx)
	return fmt.Sprint(err), nil
}

// An activity whose result cannot be encoded fails at once, not forever.
func TestUnencodableActivityResultIsNotRetried(t *testing.T) {
	c, err := perdure.NewClient(perdure.Options{Store: memstore.New()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := worker.New(c, worker.Options{})
	if err := errors.Join(worker.RegisterWorkflow(w, CallsBadResult), worker.RegisterActivity(w, BadResult)); err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, err := c.StartWorkflow(ctx, CallsBadResult, 0, perdure.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := perdure.GetResult[string](ctx, c, id)
	if err != nil || !strings.Contains(got, "after 1 attempt") || !strings.Contains(got, "InvalidOutput") {
		t.Fatalf("got %q, %v", got, err)
	}
}
