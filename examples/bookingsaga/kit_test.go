package bookingsaga_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/perdure/perdure/examples/bookingsaga"
	"github.com/perdure/perdure/perduretest"
	"github.com/perdure/perdure/workflow"
)

// The compensations run in reverse order, once each, with real bookings and
// mocked undo services.
func TestKitCompensationOrder(t *testing.T) {
	env := perduretest.NewEnv(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(perduretest.RegisterWorkflowAs(env, bookingsaga.WorkflowName, bookingsaga.BookingSagaWorkflow))
	must(perduretest.RegisterActivityAs(env, bookingsaga.BookCarName, bookingsaga.BookCar))
	must(perduretest.RegisterActivityAs(env, bookingsaga.BookHotelName, bookingsaga.BookHotel))
	must(perduretest.RegisterActivityAs(env, bookingsaga.BookFlightName, bookingsaga.BookFlight))
	var mu sync.Mutex
	var undone []string
	undo := map[string]func(context.Context, bookingsaga.BookingInput) (string, error){
		bookingsaga.UndoBookFlightName: bookingsaga.UndoBookFlight, bookingsaga.UndoBookHotelName: bookingsaga.UndoBookHotel,
		bookingsaga.UndoBookCarName: bookingsaga.UndoBookCar}
	for name, fn := range undo {
		perduretest.OnActivityAs(env, name, fn).Do(func(context.Context, bookingsaga.BookingInput) (string, error) {
			mu.Lock()
			undone = append(undone, name)
			mu.Unlock()
			return "undone", nil
		})
	}
	_, err := perduretest.ExecuteWorkflow[bookingsaga.Confirmations](env, bookingsaga.WorkflowName,
		bookingsaga.BookingInput{Car: "Hertz", Hotel: "Hilton", Flight: bookingsaga.InvalidFlight})
	var ae *workflow.ApplicationError
	if !errors.As(err, &ae) || ae.Type != bookingsaga.ErrInvalidFlightBooking || ae.Message != bookingsaga.InvalidFlightMessage {
		t.Fatalf("want the non-retryable flight error, got %v", err)
	}
	if got := strings.Join(undone, " "); got != "undo_book_flight undo_book_hotel undo_book_car" {
		t.Fatalf("compensations ran as %q", got)
	}
}

// Recover forward: two transient flight failures, retried on the virtual
// clock, then success.
func TestKitRecoverForward(t *testing.T) {
	env := perduretest.NewEnv(t)
	env.Register(bookingsaga.Register)
	got, err := perduretest.ExecuteWorkflow[bookingsaga.Confirmations](env, bookingsaga.WorkflowName,
		bookingsaga.BookingInput{Car: "Hertz", Hotel: "Hilton", Flight: "Alaska Airlines 123", FlightFailures: 2})
	if err != nil || !strings.HasPrefix(got.Flight, "FLIGHT-") {
		t.Fatalf("got %+v, %v", got, err)
	}
}
