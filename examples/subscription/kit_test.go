package subscription_test

import (
	"testing"

	"github.com/perdure/perdure/examples/subscription"
	"github.com/perdure/perdure/perduretest"
)

func TestKitSubscription(t *testing.T) {
	env := perduretest.NewEnv(t)
	env.Register(subscription.Register)
	rate := 0.0
	got, err := perduretest.ExecuteWorkflow[subscription.Result](env, subscription.SubscriptionWorkflow, subscription.SubscriptionRequest{
		UserID: "Sam Beckett", CreditCard: "1234-5678-9012-3456", Subscriptions: []string{"Netflix", "Disney+", "HBO Max"}, FailureRate: &rate})
	if err != nil || got.PaymentRef == "" || len(got.Subscriptions) != 3 {
		t.Fatalf("got %+v, %v", got, err)
	}
}
