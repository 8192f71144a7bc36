package fanout_test

import (
	"testing"

	"github.com/perdure/perdure/examples/fanout"
	"github.com/perdure/perdure/perduretest"
)

func TestKitFanOut(t *testing.T) {
	env := perduretest.NewEnv(t)
	env.Register(fanout.Register)
	got, err := perduretest.ExecuteWorkflow[int](env, fanout.FanOutFanInWorkflow, fanout.BatchInput{Items: 50, MaxParallel: 5})
	if err != nil || got != 50*51 {
		t.Fatalf("got %d, %v", got, err)
	}
}
