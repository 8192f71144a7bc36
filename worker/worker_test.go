package worker_test

import (
	"errors"
	"testing"

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
