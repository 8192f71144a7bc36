package purchaseorder_test

import (
	"testing"
	"time"

	"github.com/perdure/perdure/examples/purchaseorder"
	"github.com/perdure/perdure/perduretest"
)

// The 24-hour approval timeout, tested in milliseconds.
func TestKitApprovalTimesOutAfter24Hours(t *testing.T) {
	env := perduretest.NewEnv(t)
	env.Register(purchaseorder.Register)
	began, start := time.Now(), env.Now()
	got, err := perduretest.ExecuteWorkflow[string](env, purchaseorder.PurchaseOrderWorkflow,
		purchaseorder.Order{Cost: 2500, Product: "Laptop", Quantity: 1})
	if err != nil || got != purchaseorder.Cancelled {
		t.Fatalf("got %q, %v", got, err)
	}
	if d := env.Now().Sub(start); d != 24*time.Hour {
		t.Fatalf("cancelled after %v of workflow time, want 24h", d)
	}
	if time.Since(began) > 5*time.Second {
		t.Fatalf("took %v of real time", time.Since(began))
	}
}

func TestKitApprovedAfterSixHours(t *testing.T) {
	env := perduretest.NewEnv(t)
	env.Register(purchaseorder.Register)
	env.RaiseEventAfter(6*time.Hour, purchaseorder.ApprovalEvent, map[string]string{"approver": "Jane Doe"})
	got, err := perduretest.ExecuteWorkflow[string](env, purchaseorder.PurchaseOrderWorkflow,
		purchaseorder.Order{Cost: 2500, Product: "Laptop", Quantity: 1})
	if err != nil || got != "Approved by 'Jane Doe'" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestKitAutoApproved(t *testing.T) {
	env := perduretest.NewEnv(t)
	env.Register(purchaseorder.Register)
	got, err := perduretest.ExecuteWorkflow[string](env, purchaseorder.PurchaseOrderWorkflow,
		purchaseorder.Order{Cost: 10, Product: "Pens", Quantity: 3})
	if err != nil || got != "Auto-approved" {
		t.Fatalf("got %q, %v", got, err)
	}
}
