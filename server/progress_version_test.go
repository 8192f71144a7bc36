package server

import (
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/store"
)

// A snapshot whose instance was read before a commit and whose run was read
// after it (a suspend applied in between) does not have the version of the
// consistent snapshot of that later state: a client following with it is
// answered again, not left showing the instance running.
func TestProgressVersionOfMixedSnapshot(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Second)
	run := &store.Run{InstanceID: "i", RunID: "r", Status: store.StatusSuspended, UpdatedAt: t1, HistoryLen: 7}
	after := &perdure.Instance{InstanceID: "i", RunID: "r", Status: perdure.StatusSuspended, UpdatedAt: t1}
	before := &perdure.Instance{InstanceID: "i", RunID: "r", Status: perdure.StatusRunning, UpdatedAt: t0}
	consistent := (&snapshot{inst: after, run: run}).fingerprint()
	mixed := (&snapshot{inst: before, run: run}).fingerprint()
	if mixed == consistent {
		t.Fatal("a snapshot showing the instance running has the version of the suspended one")
	}
	if again := (&snapshot{inst: after, run: run}).fingerprint(); again != consistent {
		t.Fatal("the same state has two versions")
	}
}
