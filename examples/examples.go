// Package examples registers the example workflows, each a scenario from a
// well-known durable execution tutorial rebuilt on Perdure:
//
//   - TaskChainWorkflow (taskchain): task chaining, from the Dapr workflow
//     patterns.
//   - FanOutFanInWorkflow (fanout): fan-out/fan-in with bounded
//     parallelism, from the Dapr workflow patterns.
//   - OrderProcessingWorkflow (orderprocessing): the order behind the async
//     HTTP APIs pattern, from the Dapr workflow patterns.
//   - MonitorWorkflow (monitor): an eternal monitor with continue-as-new,
//     from the Dapr workflow patterns.
//   - PurchaseOrderWorkflow (purchaseorder): waiting for a human approval
//     or a timeout, from the Dapr workflow patterns.
//   - ResiliencyAndCompensationWorkflow (resiliency): retries and a
//     compensation, from the Dapr resiliency and compensation tutorial.
//   - BookingSagaWorkflow (bookingsaga): a saga that recovers forward and
//     backward, from the temporal-sagas booking README.
//   - SubscriptionWorkflow (subscription): idempotent side effects under
//     failures, from Restate's durable execution example.
//   - DataRoutingWorkflow (datarouting): asynchronous completion by task
//     token, from the Temporal data routing article.
//
// README.md shows how to run each one against perdure dev.
package examples

import (
	"errors"
	"log/slog"
	"sync"

	"github.com/perdure/perdure/examples/bookingsaga"
	"github.com/perdure/perdure/examples/datarouting"
	"github.com/perdure/perdure/examples/fanout"
	"github.com/perdure/perdure/examples/monitor"
	"github.com/perdure/perdure/examples/orderprocessing"
	"github.com/perdure/perdure/examples/purchaseorder"
	"github.com/perdure/perdure/examples/resiliency"
	"github.com/perdure/perdure/examples/subscription"
	"github.com/perdure/perdure/examples/taskchain"
	"github.com/perdure/perdure/worker"
)

// Options for the examples that need something from their host.
type Options struct {
	// Completer completes and fails asynchronous activities by task token:
	// DataRoutingWorkflow's simulated transmit service calls back through
	// it. *perdure.Client is one; the dev server passes one that calls its
	// own public HTTP API. Required.
	Completer datarouting.Completer
	// Logger for the transmit service's lines; default slog.Default().
	Logger *slog.Logger
}

var (
	mu       sync.Mutex
	services []*datarouting.TransmitService
)

// Register registers every example workflow and activity on w under the
// names of Workflows and the activity names of the example packages. The
// transmit service it creates for DataRoutingWorkflow needs no goroutine
// of its own; call Stop at shutdown to drop its pending callbacks.
func Register(w *worker.Worker, opts Options) error {
	if opts.Completer == nil {
		return errors.New("examples: Options.Completer is required: DataRoutingWorkflow's transmit service calls back through it (a *perdure.Client will do)")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	svc := datarouting.NewTransmitService(opts.Completer, datarouting.ServiceOptions{Logger: opts.Logger})
	err := errors.Join(
		taskchain.Register(w),
		fanout.Register(w),
		orderprocessing.Register(w),
		monitor.Register(w),
		purchaseorder.Register(w),
		resiliency.Register(w),
		bookingsaga.Register(w),
		subscription.Register(w),
		datarouting.Register(w, svc),
	)
	if err != nil {
		svc.Stop()
		return err
	}
	mu.Lock()
	services = append(services, svc)
	mu.Unlock()
	return nil
}

// Workflows lists the example workflow names.
func Workflows() []string {
	return []string{
		taskchain.WorkflowName,
		fanout.WorkflowName,
		orderprocessing.WorkflowName,
		monitor.WorkflowName,
		purchaseorder.WorkflowName,
		resiliency.WorkflowName,
		bookingsaga.WorkflowName,
		subscription.WorkflowName,
		datarouting.WorkflowName,
	}
}

// Stop stops the transmit services that Register created: callbacks not
// yet made are dropped, those in progress are cancelled and waited for.
// Call it when the host shuts down, before or after stopping the worker.
func Stop() {
	mu.Lock()
	svcs := services
	services = nil
	mu.Unlock()
	for _, s := range svcs {
		s.Stop()
	}
}
