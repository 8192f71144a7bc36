// Package purchaseorder is the external system interaction pattern of the
// Dapr workflow patterns page: a purchase order under 1000 is approved at
// once; a larger one sends an approval request and waits for a human to
// raise the event approval_received, for 24 hours at most.
//
//	{"cost":2500,"product":"Laptops","quantity":2,"approval_timeout_s":86400}
//
// Raising approval_received with {"approver":"Jane Doe"} places the order
// and completes the workflow with "Approved by 'Jane Doe'"; no approval
// within approval_timeout_s seconds (default 86400, fractions allowed)
// completes it with "Cancelled". Small orders give "Auto-approved". The
// wait is durable: it costs nothing, and survives restarts.
package purchaseorder

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/perdure/perdure/activity"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// The registered names.
const (
	WorkflowName            = "PurchaseOrderWorkflow"
	SendApprovalRequestName = "send_approval_request"
	PlaceOrderName          = "place_order"
)

// ApprovalEvent is the event a human raises to approve the order.
const ApprovalEvent = "approval_received"

// ApprovalThreshold is the cost from which an order needs approval.
const ApprovalThreshold = 1000

// DefaultApprovalTimeoutS is how long an approval is waited for: 24 hours.
const DefaultApprovalTimeoutS = 24 * 60 * 60

// maxTimeoutS bounds approval_timeout_s: one year.
const maxTimeoutS = 365 * 24 * 60 * 60

// The workflow's results.
const (
	AutoApproved = "Auto-approved"
	Cancelled    = "Cancelled"
)

// Order is the workflow input.
type Order struct {
	Cost     float64 `json:"cost"`
	Product  string  `json:"product"`
	Quantity int     `json:"quantity"`
	// ApprovalTimeoutS is how many seconds to wait for the approval; 0 means
	// DefaultApprovalTimeoutS.
	ApprovalTimeoutS float64 `json:"approval_timeout_s,omitempty"`
}

func (o Order) String() string { return fmt.Sprintf("%s (%d)", o.Product, o.Quantity) }

// Approval is the body of the approval_received event.
type Approval struct {
	Approver string `json:"approver"`
}

// UnmarshalJSON accepts {"approver":"Jane Doe"} and also a bare "Jane Doe".
func (a *Approval) UnmarshalJSON(b []byte) error {
	if b = bytes.TrimSpace(b); len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &a.Approver)
	}
	type plain Approval
	return json.Unmarshal(b, (*plain)(a))
}

// PurchaseOrderWorkflow approves small orders at once and waits for a human
// to approve the others.
func PurchaseOrderWorkflow(ctx workflow.Context, order Order) (string, error) {
	if order.Cost < ApprovalThreshold {
		return AutoApproved, nil
	}
	if order.ApprovalTimeoutS < 0 || order.ApprovalTimeoutS > maxTimeoutS {
		return "", workflow.NewNonRetryableError("InvalidInput", "approval_timeout_s must be within 0..%d, got %v", maxTimeoutS, order.ApprovalTimeoutS)
	}
	timeout := time.Duration(order.ApprovalTimeoutS * float64(time.Second))
	if timeout == 0 {
		timeout = DefaultApprovalTimeoutS * time.Second
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: workflow.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 10}})
	if _, err := workflow.ExecuteActivity(ctx, SendApprovalRequest, order).Get(ctx); err != nil {
		return "", err
	}
	if err := workflow.SetCustomStatus(ctx, fmt.Sprintf("Waiting for approval until %s", workflow.Now(ctx).Add(timeout).UTC().Format(time.RFC3339))); err != nil {
		return "", err
	}
	approval, err := workflow.WaitEventWithTimeout[Approval](ctx, ApprovalEvent, timeout).Get(ctx)
	if errors.Is(err, workflow.ErrEventTimeout) {
		workflow.GetLogger(ctx).Info(fmt.Sprintf("No approval for order %s within %s: cancelled.", order, timeout))
		return Cancelled, workflow.SetCustomStatus(ctx, nil)
	}
	if err != nil {
		return "", err
	}
	if err := workflow.SetCustomStatus(ctx, nil); err != nil {
		return "", err
	}
	if _, err := workflow.ExecuteActivity(ctx, PlaceOrder, order).Get(ctx); err != nil {
		return "", err
	}
	return fmt.Sprintf("Approved by '%s'", approval.Approver), nil
}

// SendApprovalRequest asks a manager to approve the order (here: logs it).
func SendApprovalRequest(ctx context.Context, order Order) (struct{}, error) {
	activity.GetLogger(ctx).Info(fmt.Sprintf("*** Sending approval request for order: %s", order))
	return struct{}{}, nil
}

// PlaceOrder places the approved order (here: logs it).
func PlaceOrder(ctx context.Context, order Order) (struct{}, error) {
	activity.GetLogger(ctx).Info(fmt.Sprintf("*** Placing order: %s", order))
	return struct{}{}, nil
}

// Register registers the workflow and its activities on w.
func Register(w *worker.Worker) error {
	return errors.Join(
		worker.RegisterWorkflowAs(w, WorkflowName, PurchaseOrderWorkflow),
		worker.RegisterActivityAs(w, SendApprovalRequestName, SendApprovalRequest),
		worker.RegisterActivityAs(w, PlaceOrderName, PlaceOrder),
	)
}
