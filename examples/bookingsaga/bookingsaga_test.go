package bookingsaga_test

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/examples/bookingsaga"
	"github.com/perdure/perdure/examples/internal/testenv"
)

func TestMain(m *testing.M) {
	if bookingsaga.RetryInterval != time.Second {
		panic("the default retry interval is not 1s")
	}
	bookingsaga.RetryInterval = 10 * time.Millisecond
	os.Exit(m.Run())
}

var trip = bookingsaga.BookingInput{Car: "Hertz Compact", Hotel: "Hilton Seattle", Flight: "Alaska Airlines 123"}

func TestHappyPath(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, bookingsaga.Register)
	id := e.Start(bookingsaga.WorkflowName, trip)
	inst := e.Wait(id)
	var got bookingsaga.Confirmations
	if err := inst.DecodeOutput(&got); err != nil || inst.Status != perdure.StatusCompleted {
		t.Fatalf("%s %v %+v", inst.Status, err, inst.Failure)
	}
	if !strings.HasPrefix(got.Car, "CAR-") || !strings.HasPrefix(got.Hotel, "HOTEL-") || !strings.HasPrefix(got.Flight, "FLIGHT-") {
		t.Fatalf("confirmations %+v", got)
	}
	held := bookingsaga.Bookings(id)
	if held["car"] != got.Car || held["hotel"] != got.Hotel || held["flight"] != got.Flight {
		t.Fatalf("providers hold %v, output %+v", held, got)
	}
	want := []string{"book_car: Booking car: Hertz Compact.", "book_hotel: Booking hotel: Hilton Seattle.", "book_flight: Booking flight: Alaska Airlines 123."}
	if got := e.Logs.Messages("book_"); !slices.Equal(got, want) {
		t.Fatalf("logs %q", got)
	}
}

func TestRecoverForward(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, bookingsaga.Register)
	in := trip
	in.FlightFailures = 3
	inst := e.Run(bookingsaga.WorkflowName, in)
	if inst.Status != perdure.StatusCompleted {
		t.Fatalf("%s %+v", inst.Status, inst.Failure)
	}
	if n := e.Logs.Count("book_flight: Booking flight: Alaska Airlines 123."); n != 4 {
		t.Fatalf("book_flight ran %d times, want 4", n)
	}
	fails := e.Logs.Messages("Flight service unavailable")
	if !slices.Equal(fails, []string{"book_flight: Flight service unavailable (attempt 1).",
		"book_flight: Flight service unavailable (attempt 2).", "book_flight: Flight service unavailable (attempt 3)."}) {
		t.Fatalf("failures %q", fails)
	}
	if undo := e.Logs.Messages("undo_"); len(undo) != 0 {
		t.Fatalf("compensations ran: %q", undo)
	}
}

func TestRecoverForwardAcrossARestart(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, bookingsaga.Register)
	in := trip
	in.FlightFailures = 2
	id := e.Start(bookingsaga.WorkflowName, in)
	e.Eventually("a flight failure", func() bool { return len(e.Logs.Messages("Flight service unavailable")) >= 1 })
	// The failures are counted by the engine, so a new process goes on
	// from where the old one was.
	e.Restart()
	inst := e.Wait(id)
	if inst.Status != perdure.StatusCompleted {
		t.Fatalf("%s %+v", inst.Status, inst.Failure)
	}
	if n := e.Logs.Count("book_flight: Booking flight: Alaska Airlines 123."); n != 3 {
		t.Fatalf("book_flight ran %d times, want 3 (2 failures then success)", n)
	}
}

func TestRetriesExhaustedRollBack(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, bookingsaga.Register)
	in := trip
	in.FlightFailures = 5
	id := e.Start(bookingsaga.WorkflowName, in)
	inst := e.Wait(id)
	if inst.Status != perdure.StatusFailed || !strings.Contains(inst.Failure.Message, `activity "book_flight" failed after 5 attempts`) {
		t.Fatalf("%s %+v", inst.Status, inst.Failure)
	}
	want := []string{"undo_book_flight: Undoing flight booking: Alaska Airlines 123.",
		"undo_book_hotel: Undoing hotel booking: Hilton Seattle.", "undo_book_car: Undoing car booking: Hertz Compact."}
	if got := e.Logs.Messages("undo_"); !slices.Equal(got, want) {
		t.Fatalf("compensations %q, want %q", got, want)
	}
	if held := bookingsaga.Bookings(id); len(held) != 0 {
		t.Fatalf("bookings left after the rollback: %v", held)
	}
}

func TestRecoverBackward(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, bookingsaga.Register)
	in := trip
	in.Flight = "invalid"
	id := e.Start(bookingsaga.WorkflowName, in)
	inst := e.Wait(id)
	if inst.Status != perdure.StatusFailed || inst.Failure.Message != "Invalid flight booking, rolling back!" ||
		inst.Failure.Type != bookingsaga.ErrInvalidFlightBooking {
		t.Fatalf("%s %+v", inst.Status, inst.Failure)
	}
	if n := e.Logs.Count("book_flight: Booking flight: invalid."); n != 1 {
		t.Fatalf("book_flight ran %d times for an invalid flight", n)
	}
	if n := e.Logs.Count("book_flight: Invalid flight booking, rolling back!"); n != 1 {
		t.Fatalf("the error was logged %d times", n)
	}
	want := []string{"undo_book_flight: Undoing flight booking: invalid.",
		"undo_book_hotel: Undoing hotel booking: Hilton Seattle.", "undo_book_car: Undoing car booking: Hertz Compact."}
	if got := e.Logs.Messages("undo_"); !slices.Equal(got, want) {
		t.Fatalf("compensations %q, want %q", got, want)
	}
	if held := bookingsaga.Bookings(id); len(held) != 0 {
		t.Fatalf("bookings left after the rollback: %v", held)
	}
	// The compensations are marked as such in the history.
	hist, err := e.Client.History(e.Ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	var undone []string
	for _, ev := range hist {
		if strings.HasPrefix(ev.Name, "undo_") && ev.Type == "TaskScheduled" {
			undone = append(undone, ev.Name)
		}
	}
	if !slices.Equal(undone, []string{"undo_book_flight", "undo_book_hotel", "undo_book_car"}) {
		t.Fatalf("scheduled compensations %q", undone)
	}
}
