package datarouting_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/examples/datarouting"
	"github.com/perdure/perdure/examples/internal/testenv"
	"github.com/perdure/perdure/worker"
)

func TestMain(m *testing.M) {
	if datarouting.GetRouteRetryInterval != time.Second {
		panic("the default GetRouteActivity retry interval changed")
	}
	datarouting.GetRouteRetryInterval = 5 * time.Millisecond
	os.Exit(m.Run())
}

// clientOf completes through the env's current client.
type clientOf struct{ e *atomic.Pointer[testenv.Env] }

func (c clientOf) CompleteActivity(ctx context.Context, token string, result any) error {
	return c.e.Load().Client.CompleteActivity(ctx, token, result)
}

func (c clientOf) FailActivity(ctx context.Context, token string, cause error) error {
	return c.e.Load().Client.FailActivity(ctx, token, cause)
}

// setup starts an env whose transmit service draws from rng.
func setup(t *testing.T, rng *rand.Rand) (*testenv.Env, *datarouting.TransmitService) {
	t.Helper()
	var ptr atomic.Pointer[testenv.Env]
	var svc *datarouting.TransmitService
	logs := testenv.NewRecorder()
	e := testenv.NewWithLogs(t, logs, func(w *worker.Worker) error {
		svc = datarouting.NewTransmitService(clientOf{&ptr}, datarouting.ServiceOptions{Rand: rng, Logger: logs.Logger()})
		return datarouting.Register(w, svc)
	})
	ptr.Store(e)
	t.Cleanup(svc.Stop) // runs before the env is closed
	return e, svc
}

func seeded() *rand.Rand { return rand.New(rand.NewPCG(7, 11)) }

func run(t *testing.T, e *testenv.Env, input string) datarouting.DataRoutingOut {
	t.Helper()
	inst := e.Run(datarouting.WorkflowName, json.RawMessage(input))
	if inst.Status != perdure.StatusCompleted {
		t.Fatalf("%s %+v\n%s", inst.Status, inst.Failure, e.Logs.Dump())
	}
	var out datarouting.DataRoutingOut
	if err := inst.DecodeOutput(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDeliveredByRouteD(t *testing.T) {
	t.Parallel()
	e, _ := setup(t, seeded())
	out := run(t, e, `{"ErrorChance":0,"CallbackChance":100,"MaxCallbackDelaySeconds":1,"FailRoutes":["RouteA","RouteB","RouteC"]}`)
	p := out.Packet
	if p.Status != datarouting.StatusDelivered || p.CurrentRouteProvider != "RouteD" ||
		!slices.Equal(p.FailedRouteProviders, []string{"RouteA", "RouteB", "RouteC"}) {
		t.Fatalf("packet %+v", p)
	}
	for _, r := range []string{"RouteA", "RouteB", "RouteC"} {
		if n := e.Logs.Count("TransmitActivity failed for route provider: " + r); n != 1 {
			t.Errorf("failure of %s logged %d times", r, n)
		}
	}
	if n := e.Logs.Count("TransmitActivity"); n != 4 {
		t.Errorf("TransmitActivity ran %d times, want 4", n)
	}
}

// The article's first run: the first route delivers.
func TestFirstRouteDelivers(t *testing.T) {
	t.Parallel()
	e, _ := setup(t, seeded())
	inst := e.Run(datarouting.WorkflowName, json.RawMessage(`{"ErrorChance":0,"CallbackChance":100,"MaxCallbackDelaySeconds":0.05}`))
	want := `{"Packet":{"ID":"00000000-0000-0000-0000-000000000000","Source":"+017771110000","Destination":"+016660002222",` +
		`"Contents":"SGVsbG8=","FailedRouteProviders":null,"CurrentRouteProvider":"RouteA","Status":"STATUS_DELIVERED"}}`
	if inst.Status != perdure.StatusCompleted || string(inst.Output) != want {
		t.Fatalf("%s output\n%s\nwant\n%s", inst.Status, inst.Output, want)
	}
	rec, ok := e.Logs.Find("GetRouteActivity")
	if !ok || rec.Attrs["packet_id"] != "00000000-0000-0000-0000-000000000000" {
		t.Fatalf("GetRouteActivity log %+v", rec)
	}
}

// The article's test: a bad route, then a good one.
func TestBadRouteThenGoodRoute(t *testing.T) {
	t.Parallel()
	e, _ := setup(t, seeded())
	out := run(t, e, `{"Packet":{"ID":"p-2"},"GetRouteMaxAttempts":1,"TransmitPacketMaxAttempts":2,"ErrorChance":0,
		"CallbackChance":100,"MaxCallbackDelaySeconds":0.05,"FailRoutes":["RouteA"]}`)
	p := out.Packet
	if p.ID != "p-2" || p.Source != "+017771110000" || p.Status != datarouting.StatusDelivered ||
		p.CurrentRouteProvider != "RouteB" || !slices.Equal(p.FailedRouteProviders, []string{"RouteA"}) {
		t.Fatalf("packet %+v", p)
	}
	rec, ok := e.Logs.Find("TransmitActivity failed for route provider: RouteA")
	if !ok || rec.Level.String() != "ERROR" || !strings.Contains(rec.Attrs["error"], "route RouteA failed to deliver packet p-2") {
		t.Fatalf("failure log %+v", rec)
	}
}

// The article's test: every route fails.
func TestEveryRouteFails(t *testing.T) {
	t.Parallel()
	e, _ := setup(t, seeded())
	out := run(t, e, `{"GetRouteMaxAttempts":1,"TransmitPacketMaxAttempts":2,"ErrorChance":0,"CallbackChance":100,
		"MaxCallbackDelaySeconds":0.05,"FailRoutes":["RouteA","RouteB","RouteC","RouteD","RouteE"]}`)
	p := out.Packet
	if p.Status != datarouting.StatusFailed || p.CurrentRouteProvider != "" || !slices.Equal(p.FailedRouteProviders, []string{"RouteA", "RouteB"}) {
		t.Fatalf("packet %+v", p)
	}
	// With more attempts than routes, it stops when no route is left.
	out = run(t, e, `{"TransmitPacketMaxAttempts":9,"ErrorChance":0,"CallbackChance":100,"MaxCallbackDelaySeconds":0,
		"FailRoutes":["RouteA","RouteB","RouteC","RouteD","RouteE"]}`)
	if p := out.Packet; p.Status != datarouting.StatusFailed || len(p.FailedRouteProviders) != 5 {
		t.Fatalf("packet %+v", p)
	}
}

func TestNoCallbackTimesOut(t *testing.T) {
	t.Parallel()
	e, svc := setup(t, seeded())
	out := run(t, e, `{"TransmitPacketMaxAttempts":2,"ErrorChance":0,"CallbackChance":0,"TransmitTimeoutSeconds":0.1}`)
	if p := out.Packet; p.Status != datarouting.StatusFailed || !slices.Equal(p.FailedRouteProviders, []string{"RouteA", "RouteB"}) {
		t.Fatalf("packet %+v", p)
	}
	rec, _ := e.Logs.Find("TransmitActivity failed for route provider: RouteA")
	if !strings.Contains(rec.Attrs["error"], "not completed by task token before its deadline") {
		t.Fatalf("failure log %+v", rec)
	}
	if svc.Pending() != 0 {
		t.Fatalf("%d callbacks pending", svc.Pending())
	}
}

// maxSource makes every draw the largest: callbacks always come, as late as
// allowed.
type maxSource struct{}

func (maxSource) Uint64() uint64 { return ^uint64(0) }

func TestLateCallbackIsRejected(t *testing.T) {
	t.Parallel()
	e, _ := setup(t, rand.New(maxSource{}))
	out := run(t, e, `{"TransmitPacketMaxAttempts":2,"ErrorChance":0,"CallbackChance":100,"MaxCallbackDelaySeconds":0.3,
		"TransmitTimeoutSeconds":0.1}`)
	if p := out.Packet; p.Status != datarouting.StatusFailed || !slices.Equal(p.FailedRouteProviders, []string{"RouteA", "RouteB"}) {
		t.Fatalf("packet %+v", p)
	}
	id := out.Packet.ID
	e.Eventually("two rejected callbacks", func() bool {
		return len(e.Logs.Messages("late callback (delivered) rejected; nothing changes.")) == 2
	})
	for _, r := range []string{"RouteA", "RouteB"} {
		msg := "Transmit service: packet " + id + " via " + r + ": late callback (delivered) rejected; nothing changes."
		rec, ok := e.Logs.Find(msg)
		if !ok || rec.Level.String() != "INFO" || !strings.Contains(rec.Attrs["error"], perdure.ErrTokenRejected.Error()) {
			t.Fatalf("rejection log %q: %+v", msg, rec)
		}
	}
}

func TestGetRouteGivesUp(t *testing.T) {
	t.Parallel()
	e, _ := setup(t, seeded())
	inst := e.Run(datarouting.WorkflowName, json.RawMessage(`{"ErrorChance":100}`))
	if inst.Status != perdure.StatusFailed || !strings.HasPrefix(inst.Failure.Message, "Gave up on GetRouteActivity after 3 tries") ||
		!strings.Contains(inst.Failure.Message, "IO Error: network disconnect") {
		t.Fatalf("%s %+v", inst.Status, inst.Failure)
	}
	if n := e.Logs.Count("GetRouteActivity: IO Error: network disconnect"); n != 3 {
		t.Fatalf("%d network errors, want 3", n)
	}
}

func TestInputDefaults(t *testing.T) {
	var in datarouting.DataRoutingIn
	if err := json.Unmarshal([]byte(`{}`), &in); err != nil {
		t.Fatal(err)
	}
	want := datarouting.NewDataRoutingIn(datarouting.SamplePacket)
	if !reflect.DeepEqual(in, want) || in.GetRouteMaxAttempts != 3 || in.TransmitPacketMaxAttempts != 4 || in.ErrorChance != 10 ||
		in.CallbackChance != 90 || in.MaxCallbackDelaySeconds != 15 || in.TransmitTimeoutSeconds != 10 {
		t.Fatalf("defaults %+v", in)
	}
	in = datarouting.DataRoutingIn{}
	if err := json.Unmarshal([]byte(`{"ErrorChance":0,"CallbackChance":100,"FailRoutes":["RouteA"],"Packet":{"ID":"x"}}`), &in); err != nil {
		t.Fatal(err)
	}
	if in.ErrorChance != 0 || in.CallbackChance != 100 || in.GetRouteMaxAttempts != 3 || in.Packet.ID != "x" ||
		in.Packet.Contents != "SGVsbG8=" || !slices.Equal(in.FailRoutes, []string{"RouteA"}) {
		t.Fatalf("decoded %+v", in)
	}
}

// blocking is a Completer whose calls wait for their context.
type blocking struct{ calls atomic.Int32 }

func (b *blocking) CompleteActivity(ctx context.Context, _ string, _ any) error {
	b.calls.Add(1)
	<-ctx.Done()
	return ctx.Err()
}

func (b *blocking) FailActivity(ctx context.Context, _ string, _ error) error {
	return b.CompleteActivity(ctx, "", nil)
}

func TestStopLeavesNothingRunning(t *testing.T) {
	before := runtime.NumGoroutine()
	c := &blocking{}
	svc := datarouting.NewTransmitService(c, datarouting.ServiceOptions{Rand: seeded(), Logger: testenv.NewRecorder().Logger()})
	for i := range 20 {
		in := datarouting.TransmitIn{Packet: datarouting.Packet{ID: "p", CurrentRouteProvider: "RouteA"}, CallbackChance: 100, MaxCallbackDelaySeconds: 30}
		if i == 0 {
			in.MaxCallbackDelaySeconds = 0 // this one is in progress when Stop is called
		}
		if err := svc.Submit("token", in); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.calls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if svc.Pending() != 19 || c.calls.Load() != 1 {
		t.Fatalf("%d pending, %d calls in progress", svc.Pending(), c.calls.Load())
	}
	done := make(chan struct{})
	go func() { svc.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return")
	}
	if err := svc.Submit("token", datarouting.TransmitIn{CallbackChance: 100}); !errors.Is(err, datarouting.ErrServiceStopped) {
		t.Fatalf("submit after stop: %v", err)
	}
	for i := 0; runtime.NumGoroutine() > before && i < 100; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after Stop, %d before", n, before)
	}
}
