package datarouting_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/perdure/perdure/examples/datarouting"
	"github.com/perdure/perdure/perduretest"
)

// newKitEnv registers the workflow with mocked route and transmit services.
func newKitEnv(t *testing.T) (*perduretest.Env, *perduretest.ActivityMock[datarouting.GetRouteIn, datarouting.GetRouteOut], *perduretest.ActivityMock[datarouting.TransmitIn, datarouting.TransmitOut]) {
	env := perduretest.NewEnv(t)
	if err := perduretest.RegisterWorkflowAs(env, datarouting.WorkflowName, datarouting.DataRoutingWorkflow); err != nil {
		t.Fatal(err)
	}
	route := perduretest.OnActivityByName[datarouting.GetRouteIn, datarouting.GetRouteOut](env, datarouting.GetRouteActivityName)
	transmit := perduretest.OnActivityByName[datarouting.TransmitIn, datarouting.TransmitOut](env, datarouting.TransmitActivityName)
	return env, route, transmit
}

func input(transmitAttempts int) datarouting.DataRoutingIn {
	in := datarouting.NewDataRoutingIn(datarouting.SamplePacket)
	in.GetRouteMaxAttempts, in.TransmitPacketMaxAttempts = 1, transmitAttempts
	return in
}

// The first route delivers.
func TestKitFirstRouteDelivers(t *testing.T) {
	env, route, transmit := newKitEnv(t)
	route.Return(datarouting.GetRouteOut{Route: "RouteA"}, nil)
	transmit.Return(datarouting.TransmitOut{Delivered: true}, nil)
	out, err := perduretest.ExecuteWorkflow[datarouting.DataRoutingOut](env, datarouting.WorkflowName, input(4))
	if err != nil {
		t.Fatal(err)
	}
	p := out.Packet
	if p.Status != datarouting.StatusDelivered || p.CurrentRouteProvider != "RouteA" || len(p.FailedRouteProviders) != 0 {
		t.Fatalf("packet %+v", p)
	}
	if route.Count() != 1 || transmit.Count() != 1 {
		t.Fatalf("GetRoute ran %d times, Transmit %d times", route.Count(), transmit.Count())
	}
}

// A bad route, then a good one: the workflow moves to the next provider.
func TestKitBadRouteThenGoodRoute(t *testing.T) {
	env, route, transmit := newKitEnv(t)
	route.ReturnOnce(datarouting.GetRouteOut{Route: "badRoute"}, nil).ReturnOnce(datarouting.GetRouteOut{Route: "goodRoute"}, nil)
	transmit.Do(func(_ context.Context, in datarouting.TransmitIn) (datarouting.TransmitOut, error) {
		if in.Packet.CurrentRouteProvider == "goodRoute" {
			return datarouting.TransmitOut{Delivered: true}, nil
		}
		return datarouting.TransmitOut{}, errors.New("activity timed out")
	})
	out, err := perduretest.ExecuteWorkflow[datarouting.DataRoutingOut](env, datarouting.WorkflowName, input(2))
	if err != nil {
		t.Fatal(err)
	}
	p := out.Packet
	if !slices.Equal(p.FailedRouteProviders, []string{"badRoute"}) || p.CurrentRouteProvider != "goodRoute" || p.Status != datarouting.StatusDelivered {
		t.Fatalf("packet %+v", p)
	}
}

// Every route fails: the packet is not delivered after the attempts run out.
func TestKitEveryRouteFails(t *testing.T) {
	env, route, transmit := newKitEnv(t)
	routes := []string{"RouteA", "RouteB", "RouteC", "RouteD"}
	for _, r := range routes {
		route.ReturnOnce(datarouting.GetRouteOut{Route: r}, nil)
	}
	// The transmit service never calls back: each attempt times out after
	// 10 seconds of virtual time.
	transmit.Return(datarouting.TransmitOut{Delivered: true}, nil).After(time.Hour)
	start := env.Now()
	out, err := perduretest.ExecuteWorkflow[datarouting.DataRoutingOut](env, datarouting.WorkflowName, input(4))
	if err != nil {
		t.Fatal(err)
	}
	p := out.Packet
	if p.Status != datarouting.StatusFailed || !slices.Equal(p.FailedRouteProviders, routes) {
		t.Fatalf("packet %+v", p)
	}
	if d := env.Now().Sub(start); d < 40*time.Second || d > time.Hour {
		t.Fatalf("four 10-second transmit timeouts took %v of workflow time", d)
	}
}
