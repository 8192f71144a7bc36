package orderprocessing_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/examples/internal/testenv"
	"github.com/perdure/perdure/examples/orderprocessing"
)

func TestMain(m *testing.M) {
	if orderprocessing.StepDelay != time.Second {
		panic("the default step delay is not 1s")
	}
	orderprocessing.StepDelay = 40 * time.Millisecond
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil))) // update_inventory called outside a worker
	os.Exit(m.Run())
}

// fresh returns an item name not used before in this process, stocked with
// quantity.
func fresh(name string, quantity int) string {
	item := fmt.Sprintf("%s%d", name, seq.Add(1))
	orderprocessing.Restock(item, quantity)
	return item
}

var seq atomic.Int64

func TestOrderIsProcessedWhilePolled(t *testing.T) {
	t.Parallel()
	item := fresh("Staplers", 10)
	e := testenv.New(t, orderprocessing.Register)
	id := e.Start(orderprocessing.WorkflowName, json.RawMessage(`{"Name":"`+item+`","Quantity":3,"TotalCost":29.85}`))
	e.Eventually("status RUNNING", func() bool {
		inst, err := e.Client.GetInstance(e.Ctx, id)
		return err == nil && inst.Status == perdure.StatusRunning
	})
	inst := e.Wait(id)
	if inst.Status != perdure.StatusCompleted || string(inst.Output) != `{"Processed":true}` {
		t.Fatalf("%s output %s failure %+v", inst.Status, inst.Output, inst.Failure)
	}
	if got := orderprocessing.Stock(item); got != 7 {
		t.Fatalf("%d staplers left, want 7", got)
	}
	for _, want := range []string{
		"Received order " + id + " for 3 " + item + " at $29.85",
		"Verifying inventory for order " + id + ": 3 " + item + " ordered, 10 in stock.",
		"Processing payment for order " + id + ": $29.85 for 3 " + item + ".",
		"Payment for order " + id + " processed successfully.",
		"Updated inventory for order " + id + ": 7 " + item + " left.",
		"Order " + id + " has completed!",
	} {
		if n := e.Logs.Count(want); n != 1 {
			t.Errorf("%q logged %d times\n%s", want, n, e.Logs.Dump())
		}
	}
}

func TestPaperclips(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, orderprocessing.Register)
	inst := e.Run(orderprocessing.WorkflowName, json.RawMessage(`{"Name":"Paperclips","Quantity":1,"TotalCost":9.95}`))
	if inst.Status != perdure.StatusCompleted || string(inst.Output) != `{"Processed":true}` {
		t.Fatalf("%s output %s failure %+v", inst.Status, inst.Output, inst.Failure)
	}
}

func TestShortStockIsNotProcessed(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, orderprocessing.Register)
	before := orderprocessing.Stock("Cars")
	inst := e.Run(orderprocessing.WorkflowName, orderprocessing.OrderPayload{Name: "Cars", Quantity: before + 1, TotalCost: 1e5})
	if inst.Status != perdure.StatusCompleted || string(inst.Output) != `{"Processed":false}` {
		t.Fatalf("%s output %s failure %+v", inst.Status, inst.Output, inst.Failure)
	}
	if got := orderprocessing.Stock("Cars"); got != before {
		t.Fatalf("stock changed from %d to %d", before, got)
	}
	if msgs := e.Logs.Messages("Insufficient inventory for order "); len(msgs) != 1 {
		t.Fatalf("notifications %q", msgs)
	}
	if n := len(e.Logs.Messages("Processing payment")); n != 0 {
		t.Fatalf("payment was processed for a short order")
	}

	inst = e.Run(orderprocessing.WorkflowName, orderprocessing.OrderPayload{Name: "Unicorns", Quantity: 1, TotalCost: 1})
	if string(inst.Output) != `{"Processed":false}` {
		t.Fatalf("unknown item: %s %s", inst.Status, inst.Output)
	}
}

func TestInvalidOrderFails(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, orderprocessing.Register)
	inst := e.Run(orderprocessing.WorkflowName, orderprocessing.OrderPayload{Name: "Paperclips", Quantity: 0})
	if inst.Status != perdure.StatusFailed || inst.Failure.Type != "InvalidOrder" {
		t.Fatalf("%s %+v", inst.Status, inst.Failure)
	}
}

func TestUpdateInventoryTakesStockOncePerOrder(t *testing.T) {
	t.Parallel()
	item := fresh("Rulers", 5)
	req := orderprocessing.InventoryRequest{RequestID: "order-" + item, ItemName: item, Quantity: 2}
	for range 2 {
		if _, err := orderprocessing.UpdateInventory(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	if got := orderprocessing.Stock(item); got != 3 {
		t.Fatalf("%d rulers left, want 3", got)
	}
	_, err := orderprocessing.UpdateInventory(context.Background(), orderprocessing.InventoryRequest{RequestID: "other-" + item, ItemName: item, Quantity: 4})
	if err == nil || !strings.Contains(err.Error(), "insufficient inventory") {
		t.Fatalf("short update: %v", err)
	}
}
