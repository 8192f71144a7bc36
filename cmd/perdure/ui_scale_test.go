package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/perdure/perdure/internal/history"
	"github.com/perdure/perdure/store"
	"github.com/perdure/perdure/store/sqlitestore"
)

// bulkRuns writes n delayed runs straight into a SQLite store, in large
// transactions: what 100,000 instances look like to the list, without
// running 100,000 workflows.
func bulkRuns(t *testing.T, path string, n int) {
	t.Helper()
	st, err := sqlitestore.Open(path, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	names := []string{"OrderWorkflow", "InvoiceWorkflow", "ShippingWorkflow"}
	base := time.Now().Add(-time.Duration(n) * time.Second).UTC().Truncate(time.Microsecond)
	never := time.Now().Add(24 * 365 * time.Hour)
	const batch = 5000
	for from := 0; from < n; from += batch {
		ops := make([]store.Op, 0, batch)
		for i := from; i < min(from+batch, n); i++ {
			created := base.Add(time.Duration(i) * time.Second)
			id := fmt.Sprintf("bulk-%06d", i)
			// The store starts every run PENDING; their starts are a year away.
			run := store.Run{InstanceID: id, RunID: fmt.Sprintf("run-%06d", i), Name: names[i%len(names)], Input: []byte(fmt.Sprintf(`{"n":%d}`, i)),
				CreatedAt: created, UpdatedAt: created}
			ops = append(ops, &store.RunCreateOp{Run: run,
				Start: history.Message(history.ExecutionStarted, &history.Data{Name: run.Name, Input: run.Input, InstanceID: id, RunID: run.RunID}, never, false)})
		}
		errs, err := st.Apply(ctx, ops)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range errs {
			if e != nil {
				t.Fatal(e)
			}
		}
	}
}

// TestWebUIListAt100000Instances: the list page, its counts, its filters
// and its pages stay fast over 100,000 instances.
func TestWebUIListAt100000Instances(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test with a real perdure dev process")
	}
	if findChromium() == "" {
		t.Skip("browser tests need Chromium: none found at /usr/bin/chromium or as chromium, chromium-browser, google-chrome " +
			"(install Debian's chromium, or set PERDURE_CHROMIUM)")
	}
	if raceDetector {
		t.Skip("writing 100,000 instances into SQLite takes minutes under the race detector; " +
			"run it without -race: go test -run TestWebUIListAt100000Instances ./cmd/perdure")
	}
	const n = 100000
	path := filepath.Join(t.TempDir(), "big.db")
	t0 := time.Now()
	bulkRuns(t, path, n)
	created := time.Since(t0)
	dev := startDev(t, path, freeAddr(t))
	b := newBrowser(t, dev.base, 1440, 900)

	t1 := time.Now()
	b.open("/")
	b.waitJS(`document.querySelectorAll('table.instances tbody tr[data-id]').length === 50`, 20*time.Second)
	b.waitText(".count:not([class*=st-]) .count-n", "100,000")
	first := time.Since(t1)
	if c := b.text(".count.st-PENDING .count-n"); c != "100,000" {
		t.Fatalf("pending count %q, want 100,000", c)
	}
	if top := eval[string](b, `document.querySelector('table.instances tbody tr')?.dataset.id`); top != "bulk-099999" {
		t.Fatalf("first row %q, want the newest, bulk-099999", top)
	}
	// Five pages back in time, each as fast as the first.
	var pages []time.Duration
	for p := 2; p <= 6; p++ {
		want := fmt.Sprintf("bulk-%06d", n-1-50*(p-1))
		t2 := time.Now()
		b.clickButton("Older →")
		b.waitJS(fmt.Sprintf(`document.querySelector('table.instances tbody tr')?.dataset.id === %q`, want), 10*time.Second)
		pages = append(pages, time.Since(t2).Round(time.Millisecond))
	}
	b.clickButton("← Newer")
	b.waitJS(`document.querySelector('table.instances tbody tr')?.dataset.id === 'bulk-099799'`, 10*time.Second)
	// Filters: status, then workflow name with a creation range.
	t3 := time.Now()
	b.clickCSS(".count.st-PENDING")
	b.waitJS(`location.search === '?status=PENDING' && document.querySelector('table.instances tbody tr')?.dataset.id === 'bulk-099999'`, 10*time.Second)
	b.clickCSS(".count.st-FAILED")
	b.waitText("table.instances tbody", "No instances match these filters.")
	byStatus := time.Since(t3)
	t4 := time.Now()
	b.open("/?name=InvoiceWorkflow&id=bulk-0123*")
	b.waitJS(`document.querySelector('table.instances tbody tr')?.dataset.id === 'bulk-012397'`, 10*time.Second)
	b.waitText(".count:not([class*=st-]) .count-n", "33")
	byName := time.Since(t4)
	b.noErrors()
	t.Logf("100,000 instances: created in %v; first page with counts %v; next pages %v; status filters %v; name and id prefix filter %v",
		created.Round(time.Millisecond), first.Round(time.Millisecond), pages, byStatus.Round(time.Millisecond), byName.Round(time.Millisecond))
	for _, d := range append(pages, first, byStatus, byName) {
		if d > 5*time.Second {
			t.Fatalf("a list page took %v over 100,000 instances", d)
		}
	}
}

// seedFanOut writes, before perdure dev starts, the finished history of a
// fan-out of items activities (2*items+6 events) straight into the store:
// the same events FanOutFanInWorkflow records, without running items
// activities (which takes half a minute under the race detector).
func seedFanOut(t *testing.T, path, id string, items int) {
	t.Helper()
	st, err := sqlitestore.Open(path, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	name := "FanOutFanInWorkflow"
	now := time.Now().UTC().Truncate(time.Microsecond)
	input := []byte(fmt.Sprintf(`{"items":%d,"work_ms":0,"max_parallel":0}`, items))
	apply := func(op store.Op) {
		t.Helper()
		errs, err := st.Apply(ctx, []store.Op{op})
		if err == nil {
			err = errs[0]
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	apply(&store.RunCreateOp{Run: store.Run{InstanceID: id, RunID: "run-" + id, Name: name, Input: input, CreatedAt: now, UpdatedAt: now},
		Start: history.Message(history.ExecutionStarted, &history.Data{Name: name, Input: input, InstanceID: id, RunID: "run-" + id}, now, false)})
	tasks, err := st.WorkflowTaskClaim(ctx, &store.WorkflowTaskClaimParams{Owner: "seed", Max: 1, Now: now.Add(time.Second), LeaseUntil: now.Add(time.Minute)})
	if err != nil || len(tasks) != 1 {
		t.Fatalf("claim the seeded run: %v (%d tasks)", err, len(tasks))
	}
	var events []*store.Event
	add := func(typ string, at time.Duration, d history.Data) {
		e := &history.Event{ID: int64(len(events) + 1), Type: typ, Time: now.Add(at), Data: d}
		se, err := e.Encode()
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, se)
	}
	attempt := func(at time.Duration) []history.Attempt {
		return []history.Attempt{{Attempt: 1, StartedAt: now.Add(at - time.Millisecond), EndedAt: now.Add(at)}}
	}
	ms := time.Millisecond
	add(history.ExecutionStarted, 0, history.Data{Name: name, InstanceID: id, RunID: "run-" + id, Input: input})
	add(history.TaskScheduled, 0, history.Data{Seq: 1, Name: "get_work_batch", Input: []byte(fmt.Sprint(items))})
	add(history.TaskCompleted, 5*ms, history.Data{Seq: 1, Name: "get_work_batch", Result: []byte("[1]"), Attempts: attempt(5 * ms)})
	sum := 0
	for i := 1; i <= items; i++ {
		add(history.TaskScheduled, 5*ms, history.Data{Seq: int64(i + 1), Name: "process_work_item", Input: []byte(fmt.Sprintf(`{"item":%d,"work_ms":0}`, i))})
	}
	for i := 1; i <= items; i++ {
		at := 5*ms + time.Duration(i)*time.Millisecond/4
		add(history.TaskCompleted, at, history.Data{Seq: int64(i + 1), Name: "process_work_item", Result: []byte(fmt.Sprint(2 * i)), Attempts: attempt(at)})
		sum += 2 * i
	}
	end := 10*ms + time.Duration(items)*time.Millisecond/4
	add(history.TaskScheduled, end, history.Data{Seq: int64(items + 2), Name: "process_results", Input: []byte(fmt.Sprint(sum))})
	add(history.TaskCompleted, end+ms, history.Data{Seq: int64(items + 2), Name: "process_results", Result: []byte("{}"), Attempts: attempt(end + ms)})
	add(history.ExecutionCompleted, end+ms, history.Data{Status: store.StatusCompleted, Result: []byte(fmt.Sprint(sum))})
	var consumed []int64
	for _, m := range tasks[0].Messages {
		consumed = append(consumed, m.ID)
	}
	apply(&store.WorkflowTaskCommitOp{InstanceID: id, RunID: "run-" + id, LeaseOwner: "seed", NewEvents: events, Consumed: consumed,
		Status: store.StatusCompleted, Output: []byte(fmt.Sprint(sum)), UpdatedAt: now.Add(end + ms)})
}
