package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/httpclient"
	"github.com/perdure/perdure/server/api"
)

// TestWebUI runs `perdure dev` as a real process, runs the seeds'
// workflows on it, and operates the web UI in headless Chromium: the list,
// an instance's diagram and timeline, raising the event a workflow waits
// for, starting, terminating and purging from the UI, an API error, and a
// history of 20,000 events. It skips where no Chromium is installed.
//
// Screenshots go to a temporary directory; with PERDURE_UI_SCREENSHOTS=DIR
// they are kept there (docs/screenshots is made that way).
func TestWebUI(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test with a real perdure dev process")
	}
	if findChromium() == "" {
		t.Skip("browser tests need Chromium: none found at /usr/bin/chromium or as chromium, chromium-browser, google-chrome " +
			"(install Debian's chromium, or set PERDURE_CHROMIUM)")
	}
	dir := t.TempDir()
	if raceDetector {
		// The race detector makes 10,000 activities take half a minute:
		// their history is written into the store instead.
		t0 := time.Now()
		seedFanOut(t, filepath.Join(dir, "dev.db"), "fan-20k", 10000)
		t.Logf("seeded the 20,006-event history in %v", time.Since(t0).Round(time.Millisecond))
	}
	dev := startDev(t, filepath.Join(dir, "dev.db"), freeAddr(t))
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	c, err := httpclient.New(dev.base)
	if err != nil {
		t.Fatal(err)
	}
	start := func(name, id, input string) {
		t.Helper()
		if _, err := c.Start(ctx, api.StartRequest{WorkflowName: name, InstanceID: id, Input: json.RawMessage(input)}, httpclient.StartOptions{}); err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
	}
	wait := func(id string) *api.Instance {
		t.Helper()
		inst, err := c.WaitForCompletion(ctx, id)
		if err != nil {
			t.Fatalf("wait %s: %v", id, err)
		}
		return inst
	}
	start("TaskChainWorkflow", "chain-ui", `1`)
	start("BookingSagaWorkflow", "trip-invalid", `{"car":"Hertz","hotel":"Hilton","flight":"invalid"}`)
	start("BookingSagaWorkflow", "trip-retry", `{"car":"Hertz","hotel":"Hilton","flight":"Alaska Airlines 123","flight_failures":2}`)
	start("ResiliencyAndCompensationWorkflow", "res-ui", `1`)
	start("TaskChainWorkflow", "chain-bad", `-1`)
	start("PurchaseOrderWorkflow", "po-ui", `{"cost":2500,"product":"Laptop","quantity":1}`)
	start("PurchaseOrderWorkflow", "po-term", `{"cost":9000,"product":"Server","quantity":2}`)
	start("MonitorWorkflow", "mon-ui", `{"job_id":"job-1","healthy_interval_s":0.05,"unhealthy_interval_s":0.05,"max_cycles":3}`)
	for _, id := range []string{"chain-ui", "trip-invalid", "chain-bad"} {
		wait(id)
	}

	shots := os.Getenv("PERDURE_UI_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, dev.base, 1440, 900)
	b.shots = shots
	began := time.Now()

	t.Run("list", func(t *testing.T) {
		b.t = t
		b.open("/")
		b.waitText("table.instances tbody", "chain-ui")
		b.waitText("table.instances tbody", "trip-invalid")
		// Counts per status, and the status filter.
		b.waitJS(`Number(document.querySelector('.count.st-FAILED .count-n').textContent) >= 2`, 10*time.Second)
		b.clickCSS(".count.st-FAILED")
		b.waitJS(`location.search === '?status=FAILED'`, 5*time.Second)
		b.waitJS(`[...document.querySelectorAll('table.instances tbody tr')].length >= 2 && [...document.querySelectorAll('table.instances tbody tr .badge')].every(e => e.textContent === 'Failed')`, 10*time.Second)
		if rows := b.text("table.instances tbody"); !strings.Contains(rows, "Invalid flight booking, rolling back!") || strings.Contains(rows, "chain-ui") {
			t.Fatalf("failed filter shows:\n%s", rows)
		}
		// The name filter, typed into the form.
		b.clickCSS(".count:not([class*=st-])")
		b.waitJS(`location.search === ''`, 5*time.Second)
		b.typeInto(`input[name=name]`, "PurchaseOrderWorkflow")
		b.clickButton("Apply")
		b.waitJS(`location.search.includes('name=PurchaseOrderWorkflow')`, 5*time.Second)
		b.waitJS(`[...document.querySelectorAll('table.instances tbody tr')].every(r => r.textContent.includes('PurchaseOrderWorkflow'))`, 10*time.Second)
		b.waitText("table.instances tbody", "po-ui")
		// Time range: the last 15 minutes hold them; a range in the past none.
		b.do(chromedp.SetValue(chromedp.CSS("select[name=range]"), "15m"))
		b.clickButton("Apply")
		b.waitJS(`location.search.includes('range=15m')`, 5*time.Second)
		b.waitText("table.instances tbody", "po-ui")
		b.do(chromedp.SetValue(chromedp.CSS("select[name=range]"), "custom"),
			chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector('select[name=range]'); s.dispatchEvent(new Event('change'));
				document.querySelector('input[name=after]').value = '2001-01-01T00:00'; document.querySelector('input[name=before]').value = '2001-02-01T00:00'; })()`))
		b.clickButton("Apply")
		b.waitJS(`location.search.includes('range=custom')`, 5*time.Second)
		b.waitText("table.instances tbody", "No instances match these filters.")
		if all := b.text(".count:not([class*=st-]) .count-n"); all != "0" {
			t.Fatalf("counts over a range with no instance: %q", all)
		}
		// Live refresh: an instance started now appears without a reload.
		start("TaskChainWorkflow", "chain-live", `2`)
		b.clickButton("Clear")
		b.waitText("table.instances tbody", "chain-live")
		b.noErrors()
		b.contrast()
		b.screenshot("instances.png", false)

		// Keyboard: Tab into the rows, arrows move, Enter opens.
		b.do(chromedp.Focus(chromedp.CSS(`table.instances tbody tr:first-child`)))
		b.key(kb.ArrowDown)
		id := eval[string](b, `document.activeElement.dataset.id || ''`)
		if id == "" {
			t.Fatal("ArrowDown did not move focus to the next row")
		}
		b.key(kb.Enter)
		b.waitJS(fmt.Sprintf(`location.pathname === '/instances/%s'`, id), 5*time.Second)
		b.waitText("h1", id)
	})

	t.Run("raise-event-from-list-to-completed", func(t *testing.T) {
		b.t = t
		b.open("/?name=PurchaseOrderWorkflow")
		b.waitText("table.instances tbody", "po-ui")
		b.clickCSS(`tr[data-id="po-ui"] a`)
		b.waitJS(`location.pathname === '/instances/po-ui'`, 5*time.Second)
		b.waitText(".inst-status", "Running")
		// It explains what it waits on: the event, with its timeout.
		b.waitText("#sec-waiting + div", "approval_received")
		if w := b.text(".waiting-panel"); !strings.Contains(w, "Waiting for this event to be raised") || !strings.Contains(w, "Times out at") {
			t.Fatalf("waiting panel:\n%s", w)
		}
		b.waitJS(`document.querySelector('.diagram .node.k-wait.o-running')`, 10*time.Second)
		b.contrast()
		b.screenshot("waiting.png", true)
		b.clickButton("Raise approval_received…")
		b.waitJS(`document.querySelector('dialog[open]')`, 5*time.Second)
		if v := eval[string](b, `document.querySelector('dialog input[name=eventName]').value`); v != "approval_received" {
			t.Fatalf("the dialog is not prefilled with the awaited event: %q", v)
		}
		b.typeInto(`dialog textarea[name=data]`, `{"approver":"Jane Doe"}`)
		b.clickButton("Raise event")
		b.waitJS(`!document.querySelector('dialog[open]')`, 5*time.Second)
		// The long poll brings the result without a reload.
		b.waitText(".inst-status", "Completed")
		b.waitText(".payloads", "Approved by 'Jane Doe'")
		b.waitJS(`document.querySelector('.diagram .node.k-wait.o-completed') && document.querySelector('.diagram .node.k-end.o-completed')`, 10*time.Second)
		b.waitText("table.tl", "EventRaised")
		b.noErrors()
	})

	t.Run("chain-diagram-and-timeline", func(t *testing.T) {
		b.t = t
		b.open("/instances/chain-ui")
		b.waitText(".inst-status", "Completed")
		b.waitJS(`document.querySelectorAll('.diagram .node.k-activity').length === 3`, 10*time.Second)
		names := eval[[]string](b, `[...document.querySelectorAll('.diagram .node.k-activity text.n')].map(e => e.textContent)`)
		if strings.Join(names, ",") != "step1,step2,step3" {
			t.Fatalf("activities in the diagram: %v", names)
		}
		if out := b.text(".payloads"); !strings.Contains(strings.Join(strings.Fields(out), ""), "[2,4,6]") {
			t.Fatalf("output: %s", out)
		}
		// Choosing a node opens its event in the timeline, with attempts.
		b.do(chromedp.Click(chromedp.CSS(`.diagram .node.k-activity`), chromedp.NodeVisible))
		b.waitJS(`document.querySelector('table.tl tr.ev.selected.open')`, 5*time.Second)
		b.waitText("table.tl tr.ev-detail", "Source")
		b.do(chromedp.Click(chromedp.CSS(`.diagram .node.k-activity:nth-of-type(2)`), chromedp.NodeVisible))
		b.waitText("table.tl tr.ev-detail", "Input")
		// Both events of the step are open: input, then attempts and result.
		b.waitText("table.tl tr.ev-detail", "Attempts")
		b.waitText("table.tl tr.ev-detail", "Succeeded")
		b.waitText("table.tl tr.ev-detail", "Result")
		// Any row opens with its button.
		b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('.tl-scroll').scrollTop = 0`))
		b.clickCSS(`tr[data-id="1"] button.expander`)
		b.waitJS(`document.querySelector('tr[data-id="1"] button.expander').getAttribute('aria-expanded') === 'true'`, 5*time.Second)
		b.waitText("table.tl tr.ev-detail", "TaskChainWorkflow")
		b.noErrors()
	})

	t.Run("saga-compensations", func(t *testing.T) {
		b.t = t
		b.open("/instances/trip-invalid")
		b.waitText(".inst-status", "Failed")
		b.waitJS(`document.querySelectorAll('.diagram .node.comp').length === 3`, 10*time.Second)
		comp := eval[[]string](b, `[...document.querySelectorAll('.diagram .node.comp')].map(e => e.querySelector('text.k').textContent + ' ' + e.querySelector('text.n').textContent)`)
		want := []string{"COMPENSATION · ACTIVITY undo_book_flight", "COMPENSATION · ACTIVITY undo_book_hotel", "COMPENSATION · ACTIVITY undo_book_car"}
		if strings.Join(comp, "|") != strings.Join(want, "|") {
			t.Fatalf("compensations: %q", comp)
		}
		if o := eval[string](b, `document.querySelector('.diagram .node.o-failed text.n').textContent`); o != "book_flight" {
			t.Fatalf("failed node: %q", o)
		}
		if dash := eval[string](b, `getComputedStyle(document.querySelector('.diagram .node.comp .shape')).strokeDasharray`); dash == "" || dash == "none" {
			t.Fatalf("compensation border is not dashed: %q", dash)
		}
		f := b.text(".failure-panel")
		if !strings.Contains(f, "Invalid flight booking, rolling back!") || !strings.Contains(f, "InvalidFlightBooking") {
			t.Fatalf("failure panel:\n%s", f)
		}
		b.waitText("table.tl", "compensation")
		b.noErrors()
		b.do(chromedp.Click(chromedp.CSS(`.diagram .node.o-failed`), chromedp.NodeVisible))
		b.waitText("table.tl tr.ev-detail", "Invalid flight booking, rolling back!")
		b.contrast()
		b.do(chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
		b.screenshot("saga.png", true)
	})

	t.Run("retries-and-failure", func(t *testing.T) {
		b.t = t
		wait("res-ui")
		b.open("/instances/res-ui")
		b.waitText(".inst-status", "Completed")
		b.waitText(".payloads", "Compensated minus_one activity with plus_one activity.")
		b.waitJS(`document.querySelector('.diagram .node.o-failed')`, 10*time.Second)
		if o := b.text(".diagram .node.o-failed text.o"); o != "failed after 3 attempts" {
			t.Fatalf("division node says %q", o)
		}
		// Every attempt with its error and the next retry time.
		b.do(chromedp.Click(chromedp.CSS(`.diagram .node.o-failed`), chromedp.NodeVisible))
		b.waitJS(`document.querySelectorAll('table.attempts tbody tr.att-failed').length === 3`, 5*time.Second)
		att := b.text("table.attempts")
		if strings.Count(att, "Failed:") != 3 || !strings.Contains(att, "Next retry") {
			t.Fatalf("attempts:\n%s", att)
		}
		b.do(chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
		b.screenshot("instance.png", true)
		b.open("/instances/chain-bad")
		b.waitText(".inst-status", "Failed")
		b.waitText(".failure-panel", "step1: negative input -1 is not supported")
		b.waitText(".failure-panel", "NegativeInput")
		b.waitJS(`document.querySelector('.diagram .node.k-activity.o-failed') && document.querySelector('.diagram .node.k-end.o-failed')`, 10*time.Second)
		// The continue-as-new chain: every run, each with its page.
		wait("mon-ui")
		b.open("/instances/mon-ui")
		b.waitJS(`document.querySelectorAll('.details ol.runs li').length === 3`, 10*time.Second)
		b.clickCSS(`.details a[href*="?run="]`)
		b.waitJS(`location.search.startsWith('?run=')`, 5*time.Second)
		b.waitText(".inst-status", "Continued as new")
		b.waitText(".alerts", "This is an earlier run of mon-ui")
		b.waitJS(`document.querySelector('.diagram .node.k-continue') && document.querySelector('.diagram .node.k-timer')`, 10*time.Second)
		wait("trip-retry")
		b.open("/instances/trip-retry")
		b.waitJS(`document.querySelector('.diagram .node.o-retried')`, 10*time.Second)
		if o := b.text(".diagram .node.o-retried text.o"); o != "completed after 3 attempts" {
			t.Fatalf("book_flight node says %q", o)
		}
		b.noErrors()
	})

	t.Run("start-and-api-error", func(t *testing.T) {
		b.t = t
		b.open("/")
		// An unknown workflow: the API's error is shown, the dialog stays.
		b.clickButton("Start workflow…")
		b.waitJS(`document.querySelector('dialog[open] input[name=workflowName]') === document.activeElement`, 5*time.Second)
		b.typeInto(`dialog input[name=workflowName]`, "NoSuchWorkflow")
		b.clickButton("Start")
		b.waitText("dialog .form-error", "400 UNKNOWN_WORKFLOW")
		b.contrast()
		if e := b.text("dialog .form-error"); !strings.Contains(e, `workflow "NoSuchWorkflow" is not registered`) || !strings.Contains(e, "TaskChainWorkflow") {
			t.Fatalf("error shown: %q", e)
		}
		// Input that is not JSON is refused before any request.
		b.typeInto(`dialog input[name=workflowName]`, "TaskChainWorkflow")
		b.typeInto(`dialog input[name=instanceId]`, "ui-started")
		b.typeInto(`dialog textarea[name=input]`, "one")
		b.clickButton("Start")
		b.waitText("dialog .form-error", "not valid JSON")
		if inv := eval[string](b, `document.querySelector('dialog textarea[name=input]').getAttribute('aria-invalid')`); inv != "true" {
			t.Fatalf("the bad field is not marked invalid: %q", inv)
		}
		// Escape closes the dialog and gives focus back.
		b.key(kb.Escape)
		b.waitJS(`!document.querySelector('dialog')`, 5*time.Second)
		b.waitJS(`document.activeElement && document.activeElement.id === 'start-workflow'`, 5*time.Second)
		// A real start goes to the new instance's page.
		b.clickButton("Start workflow…")
		b.typeInto(`dialog input[name=workflowName]`, "TaskChainWorkflow")
		b.typeInto(`dialog input[name=instanceId]`, "ui-started")
		b.typeInto(`dialog textarea[name=input]`, "5")
		b.clickButton("Start")
		b.waitJS(`location.pathname === '/instances/ui-started'`, 10*time.Second)
		b.waitText(".inst-status", "Completed")
		b.waitText(".payloads", "12")
		b.noErrors()
	})

	t.Run("suspend-terminate-purge", func(t *testing.T) {
		b.t = t
		b.open("/instances/po-term")
		b.waitText(".inst-status", "Running")
		b.clickButton("Suspend…")
		b.typeInto(`dialog input[name=reason]`, "audit")
		b.clickButton("Suspend")
		b.waitText(".inst-status", "Suspended")
		b.clickButton("Resume")
		b.waitText(".inst-status", "Running")
		// Terminate asks first; cancelling changes nothing.
		b.clickButton("Terminate…")
		b.waitText("dialog[open] h2", "Terminate po-term?")
		b.clickButton("Cancel")
		b.waitJS(`!document.querySelector('dialog')`, 5*time.Second)
		if st := b.text(".inst-status"); st != "Running" {
			t.Fatalf("after cancel: %q", st)
		}
		b.clickButton("Terminate…")
		b.typeInto(`dialog input[name=reason]`, "customer cancelled")
		b.clickButton("Terminate")
		b.waitText(".inst-status", "Terminated")
		b.waitText(".failure-panel", "customer cancelled")
		// Purge asks first, then returns to the list.
		b.clickButton("Purge…")
		b.waitText("dialog[open]", "cannot be undone")
		b.clickButton("Purge")
		b.waitJS(`location.pathname === '/'`, 5*time.Second)
		b.waitText("#toasts", "Purged po-term")
		if _, err := c.Get(ctx, "po-term"); !errors.Is(err, perdure.ErrNotFound) {
			t.Fatalf("po-term after purge: %v", err)
		}
		// A purged instance's page says so.
		b.open("/instances/po-term")
		b.waitText(".alerts", "No instance po-term")
		b.noErrors()
	})

	t.Run("history-of-20000-events", func(t *testing.T) {
		b.t = t
		// 10,000 activities at once: 20,006 events. It runs alone, so
		// that it does not slow the scenarios above (under the race
		// detector, its history was written before perdure dev started).
		t0 := time.Now()
		if !raceDetector {
			start("FanOutFanInWorkflow", "fan-20k", `{"items":10000,"work_ms":0,"max_parallel":0}`)
		}
		inst := wait("fan-20k")
		if !raceDetector {
			t.Logf("fan-out of 10,000 activities ran in %v", time.Since(t0).Round(time.Millisecond))
		}
		if inst.Status != "COMPLETED" {
			t.Fatalf("fan-20k: %s", inst.Status)
		}
		t0 = time.Now()
		b.open("/instances/fan-20k")
		b.waitJS(`document.querySelectorAll('table.tl tr.ev[data-id]').length > 10`, 20*time.Second)
		firstRows := time.Since(t0)
		b.waitJS(`document.querySelector('.diagram .node')`, 30*time.Second)
		diagram := time.Since(t0)
		n := eval[int](b, `document.querySelectorAll('.diagram .node').length`)
		rows := eval[int](b, `document.querySelectorAll('table.tl tr').length`)
		if n > 10 || rows > 120 {
			t.Fatalf("%d diagram nodes and %d table rows in the DOM for 20,006 events: not collapsed or not virtualised", n, rows)
		}
		if agg := b.text(".diagram .node.agg text.k"); agg != "10,000 × ACTIVITY" {
			t.Fatalf("fan-out node: %q", agg)
		}
		// Scroll to the end, then to the middle: the rows there appear.
		t1 := time.Now()
		b.do(chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector('.tl-scroll'); s.scrollTop = s.scrollHeight; })()`))
		b.waitJS(`document.querySelector('table.tl tr.ev[data-id="20006"]')`, 10*time.Second)
		toEnd := time.Since(t1)
		t2 := time.Now()
		b.do(chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector('.tl-scroll'); s.scrollTop = s.scrollHeight / 2; })()`))
		b.waitJS(`[...document.querySelectorAll('table.tl tr.ev[data-id]')].some(r => Math.abs(Number(r.dataset.id) - 10003) < 40)`, 10*time.Second)
		toMiddle := time.Since(t2)
		// Filtering to failures runs over all 20,006 events.
		b.do(chromedp.SetValue(chromedp.CSS("#tl-filter"), "failures"), chromedp.Evaluate[chromedp.Void](`document.querySelector('#tl-filter').dispatchEvent(new Event('change'))`))
		b.waitText(".tl-tools", "0 of 20,006 events")
		b.do(chromedp.SetValue(chromedp.CSS("#tl-filter"), "all"), chromedp.Evaluate[chromedp.Void](`document.querySelector('#tl-filter').dispatchEvent(new Event('change'))`))
		b.do(chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, document.querySelector('.exec').offsetTop - 8)`))
		b.screenshot("history-20000-events.png", false)
		t.Logf("20,006-event history: first rows %v, diagram %v (built in %s ms in the page), scroll to the end %v, to the middle %v",
			firstRows.Round(time.Millisecond), diagram.Round(time.Millisecond), eval[string](b, `document.querySelector('.diagram-wrap').dataset.ms`),
			toEnd.Round(time.Millisecond), toMiddle.Round(time.Millisecond))
		if diagram > 15*time.Second || toEnd > 5*time.Second {
			t.Fatalf("too slow: diagram %v, scroll %v", diagram, toEnd)
		}
		b.noErrors()
	})
	t.Logf("browser scenarios took %v", time.Since(began).Round(time.Millisecond))
}
