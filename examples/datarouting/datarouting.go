// Package datarouting is the data routing workflow of the article "Workflow
// Orchestration - Part 3": a packet is transmitted through one of several
// route providers (RouteA to RouteE); transmission completes
// asynchronously, by a callback that may fail, come late or never come; a
// route that does not deliver within 10 seconds counts as failed and the
// next one is tried, up to TransmitPacketMaxAttempts routes.
//
//	{"Packet":{"ID":"00000000-0000-0000-0000-000000000000","Source":"+017771110000",
//	  "Destination":"+016660002222","Contents":"SGVsbG8="},
//	 "GetRouteMaxAttempts":3,"TransmitPacketMaxAttempts":4,"ErrorChance":10,
//	 "CallbackChance":90,"MaxCallbackDelaySeconds":15,"FailRoutes":[]}
//
// Absent fields take the values shown. GetRouteActivity returns the first
// route provider that has not failed yet; it fails with "IO Error: network
// disconnect" ErrorChance percent of the time and is retried, up to
// GetRouteMaxAttempts attempts. TransmitActivity hands its task token to
// the simulated transmit service and returns activity.ErrResultPending; the
// service calls back after 0 to MaxCallbackDelaySeconds seconds, but only
// CallbackChance percent of the time, and always with a failure for a route
// listed in FailRoutes. A callback after the 10s timeout is rejected by the
// engine; the service logs the rejection and nothing changes.
//
// The output is the packet, delivered or not:
//
//	{"Packet":{…,"FailedRouteProviders":["RouteA","RouteB","RouteC"],
//	  "CurrentRouteProvider":"RouteD","Status":"STATUS_DELIVERED"}}
//
// STATUS_FAILED means that every route tried failed. If GetRouteActivity
// gives up, the workflow fails.
package datarouting

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/perdure/perdure/activity"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// The registered names.
const (
	WorkflowName         = "DataRoutingWorkflow"
	GetRouteActivityName = "GetRouteActivity"
	TransmitActivityName = "TransmitActivity"
)

// The final statuses of a packet.
const (
	StatusDelivered = "STATUS_DELIVERED"
	StatusFailed    = "STATUS_FAILED"
)

// PossibleRouteProviders are the route providers, in the order they are
// tried.
var PossibleRouteProviders = []string{"RouteA", "RouteB", "RouteC", "RouteD", "RouteE"}

// NetworkErrorMessage is how GetRouteActivity fails ErrorChance percent of
// the time.
const NetworkErrorMessage = "IO Error: network disconnect"

// The input defaults.
const (
	DefaultGetRouteMaxAttempts       = 3
	DefaultTransmitPacketMaxAttempts = 4
	DefaultErrorChance               = 10
	DefaultCallbackChance            = 90
	DefaultMaxCallbackDelaySeconds   = 15
	DefaultTransmitTimeoutSeconds    = 10
)

// DefaultGetRouteRetryInterval is the first retry interval of
// GetRouteActivity.
const DefaultGetRouteRetryInterval = time.Second

// GetRouteRetryInterval is the first retry interval of GetRouteActivity
// (doubling). Tests shorten it; change it only before workers start.
var GetRouteRetryInterval = DefaultGetRouteRetryInterval

// Packet is the data to deliver and its delivery state.
type Packet struct {
	ID                   string
	Source               string
	Destination          string
	Contents             string
	FailedRouteProviders []string
	CurrentRouteProvider string
	Status               string
}

// SamplePacket is the packet of the article's runs, used for the fields an
// input leaves out.
var SamplePacket = Packet{ID: "00000000-0000-0000-0000-000000000000", Source: "+017771110000",
	Destination: "+016660002222", Contents: "SGVsbG8="}

// DataRoutingIn is the workflow input.
type DataRoutingIn struct {
	Packet Packet
	// GetRouteMaxAttempts bounds the attempts of each GetRouteActivity call.
	GetRouteMaxAttempts int
	// TransmitPacketMaxAttempts bounds how many routes are tried.
	TransmitPacketMaxAttempts int
	// ErrorChance is the percentage of GetRouteActivity attempts that fail.
	ErrorChance int
	// CallbackChance is the percentage of transmissions the transmit
	// service calls back about.
	CallbackChance int
	// MaxCallbackDelaySeconds bounds the random delay of a callback.
	MaxCallbackDelaySeconds float64
	// FailRoutes are the routes whose transmissions always fail.
	FailRoutes []string
	// TransmitTimeoutSeconds is how long a transmission may take before its
	// route counts as failed (10 when absent).
	TransmitTimeoutSeconds float64 `json:",omitempty"`
}

// NewDataRoutingIn returns the input with every default, for packet.
func NewDataRoutingIn(packet Packet) DataRoutingIn {
	return DataRoutingIn{Packet: packet, GetRouteMaxAttempts: DefaultGetRouteMaxAttempts,
		TransmitPacketMaxAttempts: DefaultTransmitPacketMaxAttempts, ErrorChance: DefaultErrorChance,
		CallbackChance: DefaultCallbackChance, MaxCallbackDelaySeconds: DefaultMaxCallbackDelaySeconds,
		TransmitTimeoutSeconds: DefaultTransmitTimeoutSeconds}
}

// UnmarshalJSON fills the fields the JSON leaves out with the defaults, and
// the packet's with SamplePacket's.
func (in *DataRoutingIn) UnmarshalJSON(b []byte) error {
	type plain DataRoutingIn
	p := plain(NewDataRoutingIn(SamplePacket))
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*in = DataRoutingIn(p)
		return nil
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*in = DataRoutingIn(p)
	return nil
}

// DataRoutingOut is the workflow output.
type DataRoutingOut struct {
	Packet Packet
}

// GetRouteIn is GetRouteActivity's input.
type GetRouteIn struct {
	Packet      Packet
	ErrorChance int
}

// GetRouteOut is GetRouteActivity's output. NoRoute says that every route
// provider has failed already.
type GetRouteOut struct {
	NoRoute bool
	Route   string
}

// TransmitIn is TransmitActivity's input: the packet, with the route to
// use as CurrentRouteProvider, and how the simulated service behaves.
type TransmitIn struct {
	Packet                  Packet
	CallbackChance          int
	MaxCallbackDelaySeconds float64
	FailRoutes              []string
}

// TransmitOut is what the transmit service's callback reports.
type TransmitOut struct {
	Delivered bool
}

// maxSeconds bounds the delays of the input: one day.
const maxSeconds = 24 * 60 * 60

func (in *DataRoutingIn) check() error {
	if in.GetRouteMaxAttempts <= 0 {
		in.GetRouteMaxAttempts = DefaultGetRouteMaxAttempts
	}
	if in.TransmitPacketMaxAttempts <= 0 {
		in.TransmitPacketMaxAttempts = DefaultTransmitPacketMaxAttempts
	}
	if in.TransmitTimeoutSeconds <= 0 {
		in.TransmitTimeoutSeconds = DefaultTransmitTimeoutSeconds
	}
	switch {
	case in.ErrorChance < 0 || in.ErrorChance > 100:
		return fmt.Errorf("ErrorChance is %d, want 0..100", in.ErrorChance)
	case in.CallbackChance < 0 || in.CallbackChance > 100:
		return fmt.Errorf("CallbackChance is %d, want 0..100", in.CallbackChance)
	case in.MaxCallbackDelaySeconds < 0 || in.MaxCallbackDelaySeconds > maxSeconds:
		return fmt.Errorf("MaxCallbackDelaySeconds is %v, want 0..%d", in.MaxCallbackDelaySeconds, maxSeconds)
	case in.TransmitTimeoutSeconds > maxSeconds:
		return fmt.Errorf("TransmitTimeoutSeconds is %v, want at most %d", in.TransmitTimeoutSeconds, maxSeconds)
	}
	return nil
}

// DataRoutingWorkflow delivers a packet, trying one route provider after
// the other.
func DataRoutingWorkflow(ctx workflow.Context, in DataRoutingIn) (DataRoutingOut, error) {
	if err := in.check(); err != nil {
		return DataRoutingOut{}, workflow.NewNonRetryableError("InvalidInput", "%v", err)
	}
	logger := workflow.GetLogger(ctx)
	packet := in.Packet
	if packet.ID == "" {
		packet.ID = workflow.NewUUID(ctx)
	}
	packet.FailedRouteProviders = slices.Clone(packet.FailedRouteProviders)
	packet.CurrentRouteProvider, packet.Status = "", ""

	routeCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy: workflow.RetryPolicy{InitialInterval: GetRouteRetryInterval, BackoffCoefficient: 2,
			MaximumAttempts: in.GetRouteMaxAttempts},
	})
	transmitCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Duration(in.TransmitTimeoutSeconds * float64(time.Second)),
		RetryPolicy:         workflow.RetryPolicy{MaximumAttempts: 1}, // a timeout means: this route failed
	})

	for packet.Status != StatusDelivered && len(packet.FailedRouteProviders) < in.TransmitPacketMaxAttempts {
		route, err := workflow.ExecuteActivity(routeCtx, GetRouteActivity, GetRouteIn{Packet: packet, ErrorChance: in.ErrorChance}).Get(ctx)
		if err != nil {
			return DataRoutingOut{}, fmt.Errorf("Gave up on GetRouteActivity after %d tries: %w", in.GetRouteMaxAttempts, err)
		}
		if route.NoRoute {
			logger.Warn(fmt.Sprintf("No route provider left for packet %s.", packet.ID))
			break
		}
		packet.CurrentRouteProvider = route.Route
		if err := workflow.SetCustomStatus(ctx, fmt.Sprintf("Transmitting via %s (route %d of at most %d)",
			route.Route, len(packet.FailedRouteProviders)+1, in.TransmitPacketMaxAttempts)); err != nil {
			return DataRoutingOut{}, err
		}
		out, err := workflow.ExecuteActivityByName[TransmitOut](transmitCtx, TransmitActivityName, TransmitIn{Packet: packet,
			CallbackChance: in.CallbackChance, MaxCallbackDelaySeconds: in.MaxCallbackDelaySeconds, FailRoutes: in.FailRoutes}).Get(ctx)
		if err != nil {
			logger.Error(fmt.Sprintf("TransmitActivity failed for route provider: %s", packet.CurrentRouteProvider), "error", err)
		}
		if !out.Delivered {
			packet.FailedRouteProviders = append(packet.FailedRouteProviders, packet.CurrentRouteProvider)
			packet.CurrentRouteProvider = ""
		} else {
			packet.Status = StatusDelivered
		}
	}
	summary := fmt.Sprintf("Packet %s delivered via %s.", packet.ID, packet.CurrentRouteProvider)
	if packet.Status != StatusDelivered {
		packet.Status = StatusFailed
		summary = fmt.Sprintf("Packet %s not delivered: routes %v failed.", packet.ID, packet.FailedRouteProviders)
	}
	logger.Info(summary)
	if err := workflow.SetCustomStatus(ctx, summary); err != nil {
		return DataRoutingOut{}, err
	}
	return DataRoutingOut{Packet: packet}, nil
}

// GetRouteActivity asks the (simulated) routing service for the next route
// provider: the first one that has not failed for the packet yet.
func GetRouteActivity(ctx context.Context, in GetRouteIn) (GetRouteOut, error) {
	logger := activity.GetLogger(ctx)
	logger.Info("GetRouteActivity", "packet_id", in.Packet.ID)
	if rand.IntN(100) < in.ErrorChance {
		logger.Warn("GetRouteActivity: "+NetworkErrorMessage, "packet_id", in.Packet.ID)
		return GetRouteOut{}, activity.NewError("NetworkError", NetworkErrorMessage)
	}
	for _, r := range PossibleRouteProviders {
		if !slices.Contains(in.Packet.FailedRouteProviders, r) {
			return GetRouteOut{Route: r}, nil
		}
	}
	return GetRouteOut{NoRoute: true}, nil
}

// Register registers the workflow, GetRouteActivity and svc's
// TransmitActivity on w.
func Register(w *worker.Worker, svc *TransmitService) error {
	if svc == nil {
		return errors.New("datarouting: a transmit service is required")
	}
	return errors.Join(
		worker.RegisterWorkflowAs(w, WorkflowName, DataRoutingWorkflow),
		worker.RegisterActivityAs(w, GetRouteActivityName, GetRouteActivity),
		worker.RegisterActivityAs(w, TransmitActivityName, svc.TransmitActivity),
	)
}
