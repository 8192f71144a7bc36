package datarouting

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/activity"
)

// Completer completes or fails asynchronous activity attempts by task
// token. *perdure.Client is one; a host can pass one that goes through its
// public API. A token whose attempt timed out or finished must be rejected
// with an error that wraps perdure.ErrTokenRejected.
type Completer interface {
	CompleteActivity(ctx context.Context, taskToken string, result any) error
	FailActivity(ctx context.Context, taskToken string, cause error) error
}

// ServiceOptions configure a TransmitService. Zero values mean defaults.
type ServiceOptions struct {
	// Logger for the service's own lines; default slog.Default().
	Logger *slog.Logger
	// Rand draws the callback chances and delays; default the global
	// source. Tests pass a seeded one.
	Rand *rand.Rand
	// CallTimeout bounds one callback to the Completer. Default 10s.
	CallTimeout time.Duration
}

// TransmitService simulates the remote service that transmits packets and
// calls back, later, with the outcome. It runs in the host process: each
// pending callback is a timer, so it needs no goroutine of its own while it
// waits. Stop it when the host shuts down.
type TransmitService struct {
	c    Completer
	log  *slog.Logger
	opts ServiceOptions

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	rng     *rand.Rand
	pending map[*callback]*time.Timer
	stopped bool
}

type callback struct {
	token  string
	packet string
	route  string
	fail   bool
}

// NewTransmitService returns a service that calls back through c.
func NewTransmitService(c Completer, opts ServiceOptions) *TransmitService {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 10 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &TransmitService{c: c, log: opts.Logger.With("component", "transmit-service"), opts: opts,
		ctx: ctx, cancel: cancel, rng: opts.Rand, pending: map[*callback]*time.Timer{}}
}

// ErrServiceStopped is returned by Submit after Stop.
var ErrServiceStopped = errors.New("transmit service stopped")

// TransmitActivity transmits a packet through its CurrentRouteProvider: it
// submits the packet with the attempt's task token to the transmit service
// and returns activity.ErrResultPending; the service's callback completes
// or fails the attempt.
func (s *TransmitService) TransmitActivity(ctx context.Context, in TransmitIn) (TransmitOut, error) {
	logger := activity.GetLogger(ctx)
	logger.Info("TransmitActivity", "packet_id", in.Packet.ID, "route", in.Packet.CurrentRouteProvider)
	if err := s.Submit(activity.GetInfo(ctx).TaskToken, in); err != nil {
		logger.Error("failed to submit data to routing service", "error", err)
		return TransmitOut{}, err
	}
	return TransmitOut{}, activity.ErrResultPending
}

// Submit accepts a packet for transmission. The service calls back with the
// token after a random delay of up to in.MaxCallbackDelaySeconds, unless
// the in.CallbackChance roll says it never will.
func (s *TransmitService) Submit(token string, in TransmitIn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return ErrServiceStopped
	}
	route := in.Packet.CurrentRouteProvider
	if s.intN(100) >= in.CallbackChance {
		s.log.Info(fmt.Sprintf("Transmit service: packet %s via %s: no callback will be made.", in.Packet.ID, route))
		return nil
	}
	delay := time.Duration(s.float64() * in.MaxCallbackDelaySeconds * float64(time.Second))
	cb := &callback{token: token, packet: in.Packet.ID, route: route, fail: slices.Contains(in.FailRoutes, route)}
	s.log.Info(fmt.Sprintf("Transmit service: packet %s via %s: callback in %v.", in.Packet.ID, route, delay.Round(time.Millisecond)))
	s.wg.Add(1)
	s.pending[cb] = time.AfterFunc(delay, func() { s.fire(cb) })
	return nil
}

func (s *TransmitService) intN(n int) int {
	if s.rng != nil {
		return s.rng.IntN(n)
	}
	return rand.IntN(n)
}

func (s *TransmitService) float64() float64 {
	if s.rng != nil {
		return s.rng.Float64()
	}
	return rand.Float64()
}

func (s *TransmitService) fire(cb *callback) {
	defer s.wg.Done()
	s.mu.Lock()
	_, ok := s.pending[cb]
	delete(s.pending, cb)
	s.mu.Unlock()
	if !ok {
		return // stopped meanwhile
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.CallTimeout)
	defer cancel()
	var err error
	what := "delivered"
	if cb.fail {
		what = "failed"
		err = s.c.FailActivity(ctx, cb.token, fmt.Errorf("route %s failed to deliver packet %s", cb.route, cb.packet))
	} else {
		err = s.c.CompleteActivity(ctx, cb.token, TransmitOut{Delivered: true})
	}
	switch {
	case err == nil:
		s.log.Info(fmt.Sprintf("Transmit service: packet %s via %s: callback made (%s).", cb.packet, cb.route, what))
	case errors.Is(err, perdure.ErrTokenRejected):
		s.log.Info(fmt.Sprintf("Transmit service: packet %s via %s: late callback (%s) rejected; nothing changes.", cb.packet, cb.route, what),
			"error", err)
	default:
		s.log.Error(fmt.Sprintf("Transmit service: packet %s via %s: callback (%s) failed.", cb.packet, cb.route, what), "error", err)
	}
}

// Pending returns how many callbacks are scheduled and not yet made.
func (s *TransmitService) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// Stop drops the callbacks not yet made, cancels those in progress and
// waits for them to return. Later submissions fail.
func (s *TransmitService) Stop() {
	s.mu.Lock()
	s.stopped = true
	for cb, t := range s.pending {
		delete(s.pending, cb)
		if t.Stop() {
			s.wg.Done() // its function will never run
		}
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}
