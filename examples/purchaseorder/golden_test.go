package purchaseorder_test

import (
	"strings"
	"testing"

	"github.com/perdure/perdure/examples/internal/testenv"
	"github.com/perdure/perdure/examples/purchaseorder"
)

// TestGoldenHistories replays the recorded histories of testdata against
// the current code. With -update (or PERDURE_UPDATE_GOLDEN=1) it records
// them again first: an order approved at once, one approved by a human
// and one whose approval timed out.
func TestGoldenHistories(t *testing.T) {
	if testenv.UpdateGolden() {
		e := testenv.New(t, purchaseorder.Register)
		e.Record(purchaseorder.WorkflowName, "order-auto-approved", `{"cost":500,"product":"Paperclips","quantity":100}`, nil)
		e.Record(purchaseorder.WorkflowName, "order-approved", `{"cost":2500,"product":"Laptops","quantity":2}`, func(id string) {
			e.Eventually("the approval wait", func() bool {
				inst, err := e.Client.GetInstance(e.Ctx, id)
				return err == nil && strings.HasPrefix(string(inst.CustomStatus), `"Waiting for approval until `)
			})
			if err := e.Client.RaiseEventRaw(e.Ctx, id, purchaseorder.ApprovalEvent, []byte(`{"approver":"Jane Doe"}`)); err != nil {
				t.Fatal(err)
			}
		})
		e.Record(purchaseorder.WorkflowName, "order-approval-timed-out", `{"cost":2500,"product":"Laptops","quantity":2,"approval_timeout_s":0.05}`, nil)
	}
	testenv.ReplayGolden(t, purchaseorder.Register)
}
