// Package orderprocessing is the order workflow behind the async HTTP APIs
// pattern of the Dapr workflow patterns page: a client starts it over HTTP,
// gets 202 and an instance id at once, and polls the status URL, which
// says RUNNING for a few seconds and then COMPLETED with the output
// {"Processed":true}.
//
//	curl -X POST 'http://127.0.0.1:3500/v1.0-beta1/workflows/dapr/OrderProcessingWorkflow/start?instanceID=12345678' \
//	  -d '{"Name":"Paperclips","Quantity":1,"TotalCost":9.95}'
//	curl http://127.0.0.1:3500/v1.0-beta1/workflows/dapr/12345678
//
// The order is checked against a simulated in-memory inventory (1000
// Paperclips, 100 Computers, 5 Cars): verify_inventory, process_payment and
// update_inventory each take StepDelay (1s by default), and notify_activity
// tells the customer what happens. An order for more than is in stock, or
// for an item the inventory does not have, ends with {"Processed":false}.
package orderprocessing

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/perdure/perdure/activity"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// The registered names.
const (
	WorkflowName        = "OrderProcessingWorkflow"
	NotifyName          = "notify_activity"
	VerifyInventoryName = "verify_inventory"
	ProcessPaymentName  = "process_payment"
	UpdateInventoryName = "update_inventory"
)

// DefaultStepDelay is how long each of verify_inventory, process_payment
// and update_inventory takes by default: the order takes about 3s, long
// enough to see it RUNNING when polling its status.
const DefaultStepDelay = time.Second

// StepDelay is how long the slow activities take. Tests shorten it; change
// it only before workers start.
var StepDelay = DefaultStepDelay

// OrderPayload is the workflow input.
type OrderPayload struct {
	Name      string
	Quantity  int
	TotalCost float64
}

// OrderResult is the workflow output.
type OrderResult struct {
	Processed bool
}

// Notification is notify_activity's input.
type Notification struct {
	Message string
}

// InventoryRequest asks about (or takes) Quantity of ItemName for the order
// RequestID.
type InventoryRequest struct {
	RequestID string
	ItemName  string
	Quantity  int
}

// InventoryResult is verify_inventory's answer.
type InventoryResult struct {
	Success bool
	InStock int
}

// PaymentRequest is process_payment's input.
type PaymentRequest struct {
	RequestID string
	ItemName  string
	Quantity  int
	Amount    float64
}

// ErrInsufficientInventory is the error type update_inventory fails with
// when the stock went short after it was verified.
const ErrInsufficientInventory = "InsufficientInventory"

// OrderProcessingWorkflow verifies the stock, takes the payment, updates the
// inventory and notifies the customer at each stage.
func OrderProcessingWorkflow(ctx workflow.Context, order OrderPayload) (OrderResult, error) {
	if order.Name == "" || order.Quantity <= 0 || order.TotalCost < 0 {
		return OrderResult{}, workflow.NewNonRetryableError("InvalidOrder",
			"invalid order %+v: Name is required, Quantity must be positive and TotalCost not negative", order)
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: StepDelay + 30*time.Second,
		RetryPolicy:         workflow.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 3},
	})
	id := workflow.GetInfo(ctx).InstanceID
	notify := func(format string, args ...any) error {
		_, err := workflow.ExecuteActivity(ctx, NotifyActivity, Notification{Message: fmt.Sprintf(format, args...)}).Get(ctx)
		return err
	}
	if err := notify("Received order %s for %d %s at $%.2f", id, order.Quantity, order.Name, order.TotalCost); err != nil {
		return OrderResult{}, err
	}
	req := InventoryRequest{RequestID: id, ItemName: order.Name, Quantity: order.Quantity}
	inv, err := workflow.ExecuteActivity(ctx, VerifyInventory, req).Get(ctx)
	if err != nil {
		return OrderResult{}, err
	}
	if !inv.Success {
		err := notify("Insufficient inventory for order %s: %d %s ordered, %d in stock", id, order.Quantity, order.Name, inv.InStock)
		return OrderResult{Processed: false}, err
	}
	pay := PaymentRequest{RequestID: id, ItemName: order.Name, Quantity: order.Quantity, Amount: order.TotalCost}
	if _, err := workflow.ExecuteActivity(ctx, ProcessPayment, pay).Get(ctx); err != nil {
		return OrderResult{}, err
	}
	if _, err := workflow.ExecuteActivity(ctx, UpdateInventory, req).Get(ctx); err != nil {
		var ae *workflow.ApplicationError
		if errors.As(err, &ae) && ae.Type == ErrInsufficientInventory {
			// A real shop would refund the payment here.
			err := notify("Order %s failed: %s", id, ae.Message)
			return OrderResult{Processed: false}, err
		}
		return OrderResult{}, err
	}
	if err := notify("Order %s has completed!", id); err != nil {
		return OrderResult{}, err
	}
	return OrderResult{Processed: true}, nil
}

// NotifyActivity sends the customer a notification (here: logs it).
func NotifyActivity(ctx context.Context, n Notification) (struct{}, error) {
	activity.GetLogger(ctx).Info(n.Message)
	return struct{}{}, nil
}

// VerifyInventory checks that the inventory holds enough of the item.
func VerifyInventory(ctx context.Context, req InventoryRequest) (InventoryResult, error) {
	stock := Stock(req.ItemName)
	activity.GetLogger(ctx).Info(fmt.Sprintf("Verifying inventory for order %s: %d %s ordered, %d in stock.",
		req.RequestID, req.Quantity, req.ItemName, stock))
	if err := pause(ctx); err != nil {
		return InventoryResult{}, err
	}
	return InventoryResult{Success: stock >= req.Quantity, InStock: stock}, nil
}

// ProcessPayment charges the customer (here: takes StepDelay and logs).
func ProcessPayment(ctx context.Context, req PaymentRequest) (struct{}, error) {
	log := activity.GetLogger(ctx)
	log.Info(fmt.Sprintf("Processing payment for order %s: $%.2f for %d %s.", req.RequestID, req.Amount, req.Quantity, req.ItemName))
	if err := pause(ctx); err != nil {
		return struct{}{}, err
	}
	log.Info(fmt.Sprintf("Payment for order %s processed successfully.", req.RequestID))
	return struct{}{}, nil
}

// UpdateInventory takes the ordered quantity out of the inventory, once per
// order however often it runs. It fails with ErrInsufficientInventory
// (non-retryable) if the stock is short.
func UpdateInventory(ctx context.Context, req InventoryRequest) (InventoryResult, error) {
	if err := pause(ctx); err != nil {
		return InventoryResult{}, err
	}
	left, err := store.take(req.RequestID, req.ItemName, req.Quantity)
	if err != nil {
		return InventoryResult{InStock: left}, activity.NewNonRetryableError(ErrInsufficientInventory, "%v", err)
	}
	activity.GetLogger(ctx).Info(fmt.Sprintf("Updated inventory for order %s: %d %s left.", req.RequestID, left, req.ItemName))
	return InventoryResult{Success: true, InStock: left}, nil
}

func pause(ctx context.Context) error {
	if StepDelay <= 0 {
		return nil
	}
	t := time.NewTimer(StepDelay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Register registers the workflow and its activities on w.
func Register(w *worker.Worker) error {
	return errors.Join(
		worker.RegisterWorkflowAs(w, WorkflowName, OrderProcessingWorkflow),
		worker.RegisterActivityAs(w, NotifyName, NotifyActivity),
		worker.RegisterActivityAs(w, VerifyInventoryName, VerifyInventory),
		worker.RegisterActivityAs(w, ProcessPaymentName, ProcessPayment),
		worker.RegisterActivityAs(w, UpdateInventoryName, UpdateInventory),
	)
}

// Stock returns how many of item the simulated inventory holds.
func Stock(item string) int {
	store.mu.Lock()
	defer store.mu.Unlock()
	return store.items[item]
}

// Restock adds quantity of item to the simulated inventory.
func Restock(item string, quantity int) {
	store.mu.Lock()
	defer store.mu.Unlock()
	store.items[item] += quantity
}

// store is the simulated inventory service. It remembers the orders it has
// taken stock for, so that a retried update does not take it twice.
var store = &inventory{
	items: map[string]int{"Paperclips": 1000, "Computers": 100, "Cars": 5},
	taken: map[string]bool{},
}

type inventory struct {
	mu    sync.Mutex
	items map[string]int
	taken map[string]bool // by order id
}

func (s *inventory) take(orderID, item string, quantity int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.taken[orderID] {
		return s.items[item], nil
	}
	if s.items[item] < quantity {
		return s.items[item], fmt.Errorf("insufficient inventory: %d %s ordered, %d in stock", quantity, item, s.items[item])
	}
	s.items[item] -= quantity
	s.taken[orderID] = true
	return s.items[item], nil
}
