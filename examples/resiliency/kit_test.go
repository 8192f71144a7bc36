package resiliency_test

import (
	"testing"

	"github.com/perdure/perdure/examples/resiliency"
	"github.com/perdure/perdure/perduretest"
)

// Input 1: division by zero three times on the virtual clock, then plus_one
// compensates and the custom status says so.
func TestKitCompensation(t *testing.T) {
	env := perduretest.NewEnv(t)
	env.Register(resiliency.Register)
	got, err := perduretest.ExecuteWorkflow[int](env, resiliency.ResiliencyAndCompensationWorkflow, 1)
	if err != nil || got != 1 {
		t.Fatalf("got %d, %v", got, err)
	}
	inst, err := env.Client().GetInstance(t.Context(), env.InstanceID())
	if err != nil {
		t.Fatal(err)
	}
	var status string
	if err := inst.DecodeCustomStatus(&status); err != nil || status != resiliency.CompensatedStatus {
		t.Fatalf("custom status %q, %v", status, err)
	}
	got, err = perduretest.ExecuteWorkflow[int](env, resiliency.ResiliencyAndCompensationWorkflow, 5)
	if err != nil || got != 25 {
		t.Fatalf("input 5: got %d, %v", got, err)
	}
}
