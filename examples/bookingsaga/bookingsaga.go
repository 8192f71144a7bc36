// Package bookingsaga is the vacation booking saga of the temporal-sagas
// README: book_car, book_hotel and book_flight book a car, a hotel and a
// flight, and when a booking fails for good, the compensations
// undo_book_flight, undo_book_hotel and undo_book_car cancel what was booked,
// in that order. Each compensation is registered before its booking runs,
// so that a booking that went through on the provider's side although its
// call failed is cancelled as well.
//
// Recover forward: "flight_failures": K makes the first K attempts of
// book_flight fail with a transient error; the bookings are retried (5
// attempts), so with K < 5 the workflow completes with the three
// confirmations:
//
//	{"car":"Hertz Compact","hotel":"Hilton Seattle","flight":"Alaska Airlines 123","flight_failures":2}
//	→ {"car":"CAR-…","hotel":"HOTEL-…","flight":"FLIGHT-…"}
//
// The count is per workflow instance and survives a crash: it is the
// attempt number the engine keeps, not a counter in memory.
//
// Recover backward: "flight": "invalid" makes book_flight fail with the
// non-retryable error "Invalid flight booking, rolling back!"; the
// compensations run and the workflow fails with that message.
package bookingsaga

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/perdure/perdure/activity"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// The registered names.
const (
	WorkflowName       = "BookingSagaWorkflow"
	BookCarName        = "book_car"
	UndoBookCarName    = "undo_book_car"
	BookHotelName      = "book_hotel"
	UndoBookHotelName  = "undo_book_hotel"
	BookFlightName     = "book_flight"
	UndoBookFlightName = "undo_book_flight"
)

// InvalidFlight is the flight that cannot be booked.
const InvalidFlight = "invalid"

// ErrInvalidFlightBooking is the type of book_flight's non-retryable error.
const ErrInvalidFlightBooking = "InvalidFlightBooking"

// InvalidFlightMessage is that error's message.
const InvalidFlightMessage = "Invalid flight booking, rolling back!"

// MaxAttempts is how often each booking is tried.
const MaxAttempts = 5

// DefaultRetryInterval is the first retry interval of the bookings.
const DefaultRetryInterval = time.Second

// RetryInterval is the first retry interval of the bookings (doubling after
// each attempt). Tests shorten it; change it only before workers start.
var RetryInterval = DefaultRetryInterval

// BookingInput is the workflow input; every activity gets it too.
type BookingInput struct {
	Car    string `json:"car"`
	Hotel  string `json:"hotel"`
	Flight string `json:"flight"`
	// FlightFailures is how many attempts of book_flight fail before one
	// succeeds.
	FlightFailures int `json:"flight_failures,omitempty"`
}

// Confirmations is the workflow output: one confirmation per booking.
type Confirmations struct {
	Car    string `json:"car"`
	Hotel  string `json:"hotel"`
	Flight string `json:"flight"`
}

// BookingSagaWorkflow books the car, the hotel and the flight, or none of
// them.
func BookingSagaWorkflow(ctx workflow.Context, in BookingInput) (Confirmations, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: workflow.RetryPolicy{InitialInterval: RetryInterval, BackoffCoefficient: 2, MaximumAttempts: MaxAttempts,
			NonRetryableErrorTypes: []string{ErrInvalidFlightBooking}},
	})
	saga := workflow.NewSaga()
	var out Confirmations
	var err error

	workflow.AddCompensationActivity(saga, UndoBookCar, in)
	if out.Car, err = workflow.ExecuteActivity(ctx, BookCar, in).Get(ctx); err != nil {
		return Confirmations{}, rollBack(ctx, saga, err)
	}
	workflow.AddCompensationActivity(saga, UndoBookHotel, in)
	if out.Hotel, err = workflow.ExecuteActivity(ctx, BookHotel, in).Get(ctx); err != nil {
		return Confirmations{}, rollBack(ctx, saga, err)
	}
	workflow.AddCompensationActivity(saga, UndoBookFlight, in)
	if out.Flight, err = workflow.ExecuteActivity(ctx, BookFlight, in).Get(ctx); err != nil {
		return Confirmations{}, rollBack(ctx, saga, err)
	}
	return out, nil
}

// rollBack runs the compensations and returns the error the workflow fails
// with: the booking's own error when it was non-retryable (so the workflow
// fails with "Invalid flight booking, rolling back!"), else the activity
// error that says how many attempts were made; plus any compensation that
// failed.
func rollBack(ctx workflow.Context, saga *workflow.Saga, err error) error {
	workflow.GetLogger(ctx).Warn("Booking failed, rolling back.", "error", err)
	cerr := saga.Compensate(ctx, nil)
	var ae *workflow.ActivityError
	if errors.As(err, &ae) && ae.NonRetryable {
		err = workflow.NewNonRetryableError(ae.Type, "%s", ae.Message)
	}
	if cerr != nil {
		return errors.Join(err, cerr)
	}
	return err
}

// BookCar books the car and returns its confirmation.
func BookCar(ctx context.Context, in BookingInput) (string, error) {
	activity.GetLogger(ctx).Info(fmt.Sprintf("book_car: Booking car: %s.", in.Car))
	return bookings.book(ctx, "car", in.Car), nil
}

// UndoBookCar cancels the car booking, if there is one.
func UndoBookCar(ctx context.Context, in BookingInput) (string, error) {
	activity.GetLogger(ctx).Info(fmt.Sprintf("undo_book_car: Undoing car booking: %s.", in.Car))
	return bookings.cancel(ctx, "car"), nil
}

// BookHotel books the hotel and returns its confirmation.
func BookHotel(ctx context.Context, in BookingInput) (string, error) {
	activity.GetLogger(ctx).Info(fmt.Sprintf("book_hotel: Booking hotel: %s.", in.Hotel))
	return bookings.book(ctx, "hotel", in.Hotel), nil
}

// UndoBookHotel cancels the hotel booking, if there is one.
func UndoBookHotel(ctx context.Context, in BookingInput) (string, error) {
	activity.GetLogger(ctx).Info(fmt.Sprintf("undo_book_hotel: Undoing hotel booking: %s.", in.Hotel))
	return bookings.cancel(ctx, "hotel"), nil
}

// BookFlight books the flight and returns its confirmation. The flight
// "invalid" fails for good; the first FlightFailures attempts fail with a
// transient error.
func BookFlight(ctx context.Context, in BookingInput) (string, error) {
	log := activity.GetLogger(ctx)
	log.Info(fmt.Sprintf("book_flight: Booking flight: %s.", in.Flight))
	if strings.EqualFold(in.Flight, InvalidFlight) {
		log.Error("book_flight: " + InvalidFlightMessage)
		return "", activity.NewNonRetryableError(ErrInvalidFlightBooking, InvalidFlightMessage)
	}
	if attempt := activity.GetInfo(ctx).Attempt; attempt <= in.FlightFailures {
		log.Warn(fmt.Sprintf("book_flight: Flight service unavailable (attempt %d).", attempt))
		return "", activity.NewError("FlightServiceUnavailable", "flight service unavailable (attempt %d)", attempt)
	}
	return bookings.book(ctx, "flight", in.Flight), nil
}

// UndoBookFlight cancels the flight booking, if there is one.
func UndoBookFlight(ctx context.Context, in BookingInput) (string, error) {
	activity.GetLogger(ctx).Info(fmt.Sprintf("undo_book_flight: Undoing flight booking: %s.", in.Flight))
	return bookings.cancel(ctx, "flight"), nil
}

// Register registers the workflow and its activities on w.
func Register(w *worker.Worker) error {
	return errors.Join(
		worker.RegisterWorkflowAs(w, WorkflowName, BookingSagaWorkflow),
		worker.RegisterActivityAs(w, BookCarName, BookCar),
		worker.RegisterActivityAs(w, UndoBookCarName, UndoBookCar),
		worker.RegisterActivityAs(w, BookHotelName, BookHotel),
		worker.RegisterActivityAs(w, UndoBookHotelName, UndoBookHotel),
		worker.RegisterActivityAs(w, BookFlightName, BookFlight),
		worker.RegisterActivityAs(w, UndoBookFlightName, UndoBookFlight),
	)
}

// Bookings returns the bookings the simulated providers hold for a
// workflow instance: kind (car, hotel, flight) → confirmation.
func Bookings(instanceID string) map[string]string {
	bookings.mu.Lock()
	defer bookings.mu.Unlock()
	return maps.Clone(bookings.byInstance[instanceID])
}

// bookings is the simulated car, hotel and flight providers. A booking's
// confirmation derives from the activity's idempotency key, so a retried
// booking gets the same one.
var bookings = &providers{byInstance: map[string]map[string]string{}}

type providers struct {
	mu         sync.Mutex
	byInstance map[string]map[string]string
}

func (p *providers) book(ctx context.Context, kind, what string) string {
	info := activity.GetInfo(ctx)
	h := fnv.New32a()
	fmt.Fprintf(h, "%s|%s|%s", info.IdempotencyKey, kind, what)
	conf := fmt.Sprintf("%s-%08X", strings.ToUpper(kind), h.Sum32())
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byInstance[info.InstanceID] == nil {
		p.byInstance[info.InstanceID] = map[string]string{}
	}
	p.byInstance[info.InstanceID][kind] = conf
	return conf
}

// cancel removes the booking and returns its confirmation ("" if there was
// nothing to cancel).
func (p *providers) cancel(ctx context.Context, kind string) string {
	id := activity.GetInfo(ctx).InstanceID
	p.mu.Lock()
	defer p.mu.Unlock()
	conf := p.byInstance[id][kind]
	delete(p.byInstance[id], kind)
	if len(p.byInstance[id]) == 0 {
		delete(p.byInstance, id)
	}
	return conf
}
