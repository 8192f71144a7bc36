package purchaseorder_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/examples/internal/testenv"
	"github.com/perdure/perdure/examples/purchaseorder"
)

func output(t *testing.T, inst *perdure.Instance) string {
	t.Helper()
	var s string
	if inst.Status != perdure.StatusCompleted {
		t.Fatalf("%s %+v", inst.Status, inst.Failure)
	}
	if err := inst.DecodeOutput(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSmallOrderIsAutoApproved(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, purchaseorder.Register)
	inst := e.Run(purchaseorder.WorkflowName, json.RawMessage(`{"cost":999.99,"product":"Paperclips","quantity":100}`))
	if got := output(t, inst); got != "Auto-approved" {
		t.Fatalf("got %q", got)
	}
	if got := e.Logs.Messages("***"); len(got) != 0 {
		t.Fatalf("logs %q", got)
	}
}

func TestApprovedByJaneDoe(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, purchaseorder.Register)
	// The default timeout: 24 hours.
	id := e.Start(purchaseorder.WorkflowName, json.RawMessage(`{"cost":2500,"product":"Laptops","quantity":2}`))
	e.Eventually("the approval wait", func() bool {
		inst, err := e.Client.GetInstance(e.Ctx, id)
		return err == nil && strings.HasPrefix(string(inst.CustomStatus), `"Waiting for approval until `)
	})
	if got := e.Logs.Messages("***"); !slices.Equal(got, []string{"*** Sending approval request for order: Laptops (2)"}) {
		t.Fatalf("logs %q", got)
	}
	hist, err := e.Client.History(e.Ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	var wait time.Duration
	for _, ev := range hist {
		if ev.Type == "TimerCreated" {
			wait = ev.FireAt.Sub(ev.Time)
		}
	}
	if wait < 24*time.Hour-time.Minute || wait > 24*time.Hour {
		t.Fatalf("the approval timeout is %v, want 24h", wait)
	}
	if err := e.Client.RaiseEventRaw(e.Ctx, id, purchaseorder.ApprovalEvent, []byte(`{"approver":"Jane Doe"}`)); err != nil {
		t.Fatal(err)
	}
	inst := e.Wait(id)
	if got := output(t, inst); got != "Approved by 'Jane Doe'" {
		t.Fatalf("got %q", got)
	}
	if got := e.Logs.Messages("***"); !slices.Equal(got, []string{"*** Sending approval request for order: Laptops (2)", "*** Placing order: Laptops (2)"}) {
		t.Fatalf("logs %q", got)
	}
	if inst.CustomStatus != nil {
		t.Fatalf("custom status %s after the approval, want it cleared", inst.CustomStatus)
	}
}

func TestApprovalRaisedEarlyIsBuffered(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, purchaseorder.Register)
	id := e.Start(purchaseorder.WorkflowName, purchaseorder.Order{Cost: 1000, Product: "Chairs", Quantity: 10, ApprovalTimeoutS: 30})
	if err := e.Client.RaiseEvent(e.Ctx, id, purchaseorder.ApprovalEvent, "John Roe"); err != nil {
		t.Fatal(err)
	}
	if got := output(t, e.Wait(id)); got != "Approved by 'John Roe'" {
		t.Fatalf("got %q", got)
	}
}

func TestNoApprovalCancels(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, purchaseorder.Register)
	inst := e.Run(purchaseorder.WorkflowName, json.RawMessage(`{"cost":5000,"product":"Desks","quantity":5,"approval_timeout_s":0.1}`))
	if got := output(t, inst); got != "Cancelled" {
		t.Fatalf("got %q", got)
	}
	if got := e.Logs.Messages("*** Placing order"); len(got) != 0 {
		t.Fatalf("a cancelled order was placed: %q", got)
	}
	if got := e.Logs.Messages("No approval for order Desks (5)"); len(got) != 1 {
		t.Fatalf("cancellation logs %q", got)
	}
}
