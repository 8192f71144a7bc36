package orderprocessing_test

import (
	"testing"

	"github.com/perdure/perdure/examples/orderprocessing"
	"github.com/perdure/perdure/perduretest"
)

func TestKitOrderProcessing(t *testing.T) {
	env := perduretest.NewEnv(t)
	env.Register(orderprocessing.Register)
	got, err := perduretest.ExecuteWorkflow[orderprocessing.OrderResult](env, orderprocessing.WorkflowName,
		orderprocessing.OrderPayload{Name: "Paperclips", Quantity: 1, TotalCost: 9.95})
	if err != nil || !got.Processed {
		t.Fatalf("got %+v, %v", got, err)
	}
}

// Stock that is short: the inventory service is mocked to say so.
func TestKitShortStock(t *testing.T) {
	env := perduretest.NewEnv(t)
	for name, err := range map[string]error{
		orderprocessing.WorkflowName:       perduretest.RegisterWorkflowAs(env, orderprocessing.WorkflowName, orderprocessing.OrderProcessingWorkflow),
		orderprocessing.NotifyName:         perduretest.RegisterActivityAs(env, orderprocessing.NotifyName, orderprocessing.NotifyActivity),
		orderprocessing.ProcessPaymentName: perduretest.RegisterActivityAs(env, orderprocessing.ProcessPaymentName, orderprocessing.ProcessPayment),
		orderprocessing.UpdateInventoryName: perduretest.RegisterActivityAs(env, orderprocessing.UpdateInventoryName,
			orderprocessing.UpdateInventory),
	} {
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	verify := perduretest.OnActivityAs(env, orderprocessing.VerifyInventoryName, orderprocessing.VerifyInventory).
		Return(orderprocessing.InventoryResult{Success: false, InStock: 0}, nil)
	got, err := perduretest.ExecuteWorkflow[orderprocessing.OrderResult](env, orderprocessing.WorkflowName,
		orderprocessing.OrderPayload{Name: "Paperclips", Quantity: 5, TotalCost: 49.75})
	if err != nil || got.Processed || verify.Count() != 1 || verify.Calls()[0].Quantity != 5 {
		t.Fatalf("got %+v, %v; verify calls %+v", got, err, verify.Calls())
	}
}
