package subscription_test

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/examples/internal/testenv"
	"github.com/perdure/perdure/examples/subscription"
)

func TestMain(m *testing.M) {
	if subscription.RetryInterval != 100*time.Millisecond {
		panic("the default retry interval changed")
	}
	subscription.RetryInterval = time.Millisecond
	os.Exit(m.Run())
}

const request = `{"user_id":"Sam Beckett","credit_card":"1234-5678-9012-3456","subscriptions":["Netflix","Disney+","HBO Max"],"failure_rate":%s}`

func start(e *testenv.Env, rate string) string {
	return e.Start(subscription.WorkflowName, json.RawMessage(strings.Replace(request, "%s", rate, 1)))
}

// check verifies the output and that each side effect was logged once.
func check(t *testing.T, e *testenv.Env, id string) subscription.Result {
	t.Helper()
	inst := e.Wait(id)
	if inst.Status != perdure.StatusCompleted {
		t.Fatalf("%s %+v\n%s", inst.Status, inst.Failure, e.Logs.Dump())
	}
	var out subscription.Result
	if err := inst.DecodeOutput(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.PaymentRef, "PAY-") || len(out.Subscriptions) != 3 {
		t.Fatalf("output %s", inst.Output)
	}
	for i, name := range []string{"Netflix", "Disney+", "HBO Max"} {
		s := out.Subscriptions[i]
		if s.Name != name || !strings.HasPrefix(s.Ref, "SUB-") {
			t.Fatalf("subscription %d: %+v", i, s)
		}
		want := "create_subscription: created subscription " + name + " for user Sam Beckett (" + s.Ref + ")."
		if n := e.Logs.Count(want); n != 1 {
			t.Fatalf("%q logged %d times\n%s", want, n, e.Logs.Dump())
		}
	}
	payments := e.Logs.Messages("created recurring payment")
	if len(payments) != 1 || !regexp.MustCompile(`^create_recurring_payment: created recurring payment `+out.PaymentRef+
		` \(payment id [0-9a-f-]{36}\) for card ending 3456\.$`).MatchString(payments[0]) {
		t.Fatalf("payment logs %q", payments)
	}
	if n := subscription.Effects(out.PaymentRef); n != 3 {
		t.Fatalf("%d subscriptions with the provider, want 3", n)
	}
	return out
}

func TestNoFailures(t *testing.T) {
	e := testenv.New(t, subscription.Register)
	check(t, e, start(e, "0"))
	if n := len(e.Logs.Messages("(attempt ")); n != 0 {
		t.Fatalf("%d failures at failure rate 0", n)
	}
}

func TestFailuresAreRetriedAndEffectsHappenOnce(t *testing.T) {
	subscription.SetRand(rand.New(rand.NewPCG(5, 6)))
	defer subscription.SetRand(nil)
	e := testenv.New(t, subscription.Register)
	check(t, e, start(e, "0.6"))
	before := len(e.Logs.Messages("unavailable (attempt "))
	after := len(e.Logs.Messages("connection lost before"))
	if before == 0 || after == 0 {
		t.Fatalf("%d failures before and %d after the effect; want both kinds\n%s", before, after, e.Logs.Dump())
	}
}

func TestCrashAfterThePayment(t *testing.T) {
	subscription.SetRand(rand.New(rand.NewPCG(3, 4)))
	defer subscription.SetRand(nil)
	e := testenv.New(t, subscription.Register)
	id := start(e, "0.5")
	e.Eventually("the payment", func() bool { return len(e.Logs.Messages("created recurring payment")) == 1 })
	e.Restart()
	check(t, e, id)
}

func TestDefaultFailureRateAndInvalidInput(t *testing.T) {
	e := testenv.New(t, subscription.Register)
	check(t, e, e.Start(subscription.WorkflowName, json.RawMessage(
		`{"user_id":"Sam Beckett","credit_card":"1234-5678-9012-3456","subscriptions":["Netflix","Disney+","HBO Max"]}`)))
	inst := e.Run(subscription.WorkflowName, json.RawMessage(`{"user_id":"x","credit_card":"1","failure_rate":2}`))
	if inst.Status != perdure.StatusFailed || inst.Failure.Type != "InvalidInput" {
		t.Fatalf("%s %+v", inst.Status, inst.Failure)
	}
}
