// Package subscription is Restate's durable execution example: a handler
// creates a recurring payment and then one subscription per item, against
// external APIs that fail now and then. Failed calls are retried; calls that
// succeeded are not made again, even after a crash; and each side effect
// appears exactly once in the log.
//
//	{"user_id":"Sam Beckett","credit_card":"1234-5678-9012-3456",
//	 "subscriptions":["Netflix","Disney+","HBO Max"],"failure_rate":0.3}
//
// The workflow draws a payment id with workflow.NewUUID, which is recorded
// and so the same on every replay: it is the idempotency key of the payment.
// create_recurring_payment and create_subscription fail at failure_rate
// (default 0.3), either before the simulated provider acts or after it
// acted but before its answer arrived; the provider records each effect
// once per key (the payment id, and the payment reference with the
// subscription), so a retry finds the effect instead of repeating it, and
// the success line ("created recurring payment …", "created subscription
// …") is logged once. The output is
//
//	{"payment_ref":"PAY-…","subscriptions":[{"name":"Netflix","ref":"SUB-…"},…]}
package subscription

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/perdure/perdure/activity"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// The registered names.
const (
	WorkflowName               = "SubscriptionWorkflow"
	CreateRecurringPaymentName = "create_recurring_payment"
	CreateSubscriptionName     = "create_subscription"
)

// DefaultFailureRate is the failure rate when the input has none.
const DefaultFailureRate = 0.3

// DefaultRetryInterval is the first retry interval of the API calls.
const DefaultRetryInterval = 100 * time.Millisecond

// RetryInterval is the first retry interval of the API calls (doubling up
// to 10 times as much). Tests shorten it; change it only before workers
// start.
var RetryInterval = DefaultRetryInterval

// MaxAttempts bounds the attempts of each API call; at the default failure
// rate they are all but certain to succeed long before.
const MaxAttempts = 50

// SubscriptionRequest is the workflow input.
type SubscriptionRequest struct {
	UserID        string   `json:"user_id"`
	CreditCard    string   `json:"credit_card"`
	Subscriptions []string `json:"subscriptions"`
	// FailureRate is the chance (0..1) that an API call fails; nil means
	// DefaultFailureRate.
	FailureRate *float64 `json:"failure_rate,omitempty"`
}

// Result is the workflow output.
type Result struct {
	PaymentRef    string         `json:"payment_ref"`
	Subscriptions []Subscription `json:"subscriptions"`
}

// Subscription is one created subscription.
type Subscription struct {
	Name string `json:"name"`
	Ref  string `json:"ref"`
}

// PaymentRequest is create_recurring_payment's input.
type PaymentRequest struct {
	CreditCard  string  `json:"credit_card"`
	PaymentID   string  `json:"payment_id"`
	FailureRate float64 `json:"failure_rate"`
}

// SubscriptionOrder is create_subscription's input.
type SubscriptionOrder struct {
	UserID       string  `json:"user_id"`
	Subscription string  `json:"subscription"`
	PaymentRef   string  `json:"payment_ref"`
	FailureRate  float64 `json:"failure_rate"`
}

// SubscriptionWorkflow creates the recurring payment, then the
// subscriptions, each exactly once.
func SubscriptionWorkflow(ctx workflow.Context, req SubscriptionRequest) (Result, error) {
	rate := DefaultFailureRate
	if req.FailureRate != nil {
		rate = *req.FailureRate
	}
	if req.UserID == "" || req.CreditCard == "" || rate < 0 || rate > 1 {
		return Result{}, workflow.NewNonRetryableError("InvalidInput",
			"user_id and credit_card are required and failure_rate must be within 0..1")
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: workflow.RetryPolicy{InitialInterval: RetryInterval, BackoffCoefficient: 2,
			MaximumInterval: 10 * RetryInterval, MaximumAttempts: MaxAttempts},
	})
	// A stable idempotency key: recorded once, the same on every replay.
	paymentID := workflow.NewUUID(ctx)
	payRef, err := workflow.ExecuteActivity(ctx, CreateRecurringPayment,
		PaymentRequest{CreditCard: req.CreditCard, PaymentID: paymentID, FailureRate: rate}).Get(ctx)
	if err != nil {
		return Result{}, err
	}
	out := Result{PaymentRef: payRef, Subscriptions: []Subscription{}}
	for _, name := range req.Subscriptions {
		ref, err := workflow.ExecuteActivity(ctx, CreateSubscription,
			SubscriptionOrder{UserID: req.UserID, Subscription: name, PaymentRef: payRef, FailureRate: rate}).Get(ctx)
		if err != nil {
			return Result{}, err
		}
		out.Subscriptions = append(out.Subscriptions, Subscription{Name: name, Ref: ref})
	}
	return out, nil
}

// CreateRecurringPayment sets up the recurring payment with the payment
// provider, idempotently by payment id, and returns its reference.
func CreateRecurringPayment(ctx context.Context, req PaymentRequest) (string, error) {
	log := activity.GetLogger(ctx)
	attempt := activity.GetInfo(ctx).Attempt
	outcome := provider.roll(req.FailureRate)
	if outcome == failBefore {
		log.Warn(fmt.Sprintf("create_recurring_payment: payment API unavailable (attempt %d).", attempt))
		return "", activity.NewError("PaymentAPIUnavailable", "payment API unavailable")
	}
	ref, created := provider.effect("payment/"+req.PaymentID, "PAY")
	if created {
		log.Info(fmt.Sprintf("create_recurring_payment: created recurring payment %s (payment id %s) for card ending %s.",
			ref, req.PaymentID, last4(req.CreditCard)))
	}
	if outcome == failAfter {
		log.Warn(fmt.Sprintf("create_recurring_payment: connection lost before the payment API answered (attempt %d).", attempt))
		return "", activity.NewError("PaymentAPITimeout", "connection lost before the payment API answered")
	}
	return ref, nil
}

// CreateSubscription subscribes the user, idempotently by payment reference
// and subscription, and returns the subscription's reference.
func CreateSubscription(ctx context.Context, req SubscriptionOrder) (string, error) {
	log := activity.GetLogger(ctx)
	attempt := activity.GetInfo(ctx).Attempt
	outcome := provider.roll(req.FailureRate)
	if outcome == failBefore {
		log.Warn(fmt.Sprintf("create_subscription: subscription API unavailable (attempt %d).", attempt))
		return "", activity.NewError("SubscriptionAPIUnavailable", "subscription API unavailable")
	}
	ref, created := provider.effect("subscription/"+req.PaymentRef+"/"+req.Subscription, "SUB")
	if created {
		log.Info(fmt.Sprintf("create_subscription: created subscription %s for user %s (%s).", req.Subscription, req.UserID, ref))
	}
	if outcome == failAfter {
		log.Warn(fmt.Sprintf("create_subscription: connection lost before the subscription API answered (attempt %d).", attempt))
		return "", activity.NewError("SubscriptionAPITimeout", "connection lost before the subscription API answered")
	}
	return ref, nil
}

func last4(card string) string {
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, card)
	if len(digits) > 4 {
		digits = digits[len(digits)-4:]
	}
	return digits
}

// Register registers the workflow and its activities on w.
func Register(w *worker.Worker) error {
	return errors.Join(
		worker.RegisterWorkflowAs(w, WorkflowName, SubscriptionWorkflow),
		worker.RegisterActivityAs(w, CreateRecurringPaymentName, CreateRecurringPayment),
		worker.RegisterActivityAs(w, CreateSubscriptionName, CreateSubscription),
	)
}

// SetRand makes the simulated APIs draw their failures from r (nil: the
// global source), so that tests are reproducible.
func SetRand(r *rand.Rand) {
	provider.mu.Lock()
	defer provider.mu.Unlock()
	provider.rng = r
}

// Effects returns how many effects (payments and subscriptions) the
// simulated provider holds whose key contains substr.
func Effects(substr string) int {
	provider.mu.Lock()
	defer provider.mu.Unlock()
	n := 0
	for k := range provider.effects {
		if strings.Contains(k, substr) {
			n++
		}
	}
	return n
}

type outcome int

const (
	succeed outcome = iota
	failBefore
	failAfter
)

// provider is the simulated payment and subscription APIs.
var provider = &external{effects: map[string]string{}}

type external struct {
	mu      sync.Mutex
	rng     *rand.Rand
	effects map[string]string // idempotency key → reference
}

// roll decides how a call goes: it fails at rate, half the time before the
// provider acts and half the time after.
func (x *external) roll(rate float64) outcome {
	if rate <= 0 {
		return succeed
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	var r float64
	if x.rng != nil {
		r = x.rng.Float64()
	} else {
		r = rand.Float64()
	}
	switch {
	case r >= rate:
		return succeed
	case r < rate/2:
		return failBefore
	default:
		return failAfter
	}
}

// effect performs the effect named by key once and returns its reference
// and whether this call created it.
func (x *external) effect(key, prefix string) (string, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if ref, ok := x.effects[key]; ok {
		return ref, false
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	ref := fmt.Sprintf("%s-%08X", prefix, h.Sum32())
	x.effects[key] = ref
	return ref, true
}
