package ui_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/perdure/perdure/ui"
)

func chromium() string {
	if p := os.Getenv("PERDURE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestModelInBrowser checks, in headless Chromium, how the diagram reads
// histories that the examples do not produce: child workflows, event
// waits that time out, side effects, loops, huge fan-outs, and what the
// "waits on" panel says about heartbeats and task tokens.
func TestModelInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	path := chromium()
	if path == "" {
		t.Skip("browser tests need Chromium: none found at /usr/bin/chromium or as chromium, chromium-browser, google-chrome")
	}
	mux := http.NewServeMux()
	mux.Handle("/", ui.Handler(ui.Options{}))
	mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"schema":"perdure.instanceList/v1","instances":[],"nextPageToken":"","workflows":[],"counts":{}}`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	version := regexp.MustCompile(`/assets/([0-9a-f]+)/`).FindStringSubmatch(get(t, ui.Handler(ui.Options{}), "GET", "/").body)[1]

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	defer cancelT()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	// run evaluates the body of an async function that has the modules
	// m (model), d (diagram), w (waiting) and tl (timeline) in scope.
	run := func(body string) map[string]any {
		t.Helper()
		js := `(async () => {
			const base = '/assets/` + version + `/js/';
			const m = await import(base + 'model.js'), d = await import(base + 'diagram.js');
			const w = await import(base + 'waiting.js'), tl = await import(base + 'timeline.js');
			const T = (s) => new Date(Date.UTC(2024, 4, 1, 12, 0, s)).toISOString();
			const res = await (async () => {` + body + `})();
			return JSON.stringify(res);
		})()`
		out, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, func(p *runtime.EvaluateParams) { p.AwaitPromise = new(true) }))
		if err != nil {
			t.Fatalf("evaluate: %v", err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		return m
	}
	check := func(got map[string]any, want map[string]string) {
		t.Helper()
		for k, v := range want {
			if g, _ := json.Marshal(got[k]); string(g) != v {
				t.Errorf("%s = %s, want %s", k, g, v)
			}
		}
	}

	t.Run("child-event-timeout-side-effect", func(t *testing.T) {
		got := run(`
			const ev = [
				{id: 1, type: 'ExecutionStarted', time: T(0), name: 'Parent'},
				{id: 2, type: 'SubOrchestrationInstanceCreated', time: T(0), seq: 1, name: 'Child', instanceId: 'p:1'},
				{id: 3, type: 'TimerCreated', time: T(0), seq: 2, fireAt: T(30), purpose: 'event:Approval'},
				{id: 4, type: 'SubOrchestrationInstanceCompleted', time: T(5), seq: 1, result: 7},
				{id: 5, type: 'TimerFired', time: T(30), seq: 2, fireAt: T(30)},
				{id: 6, type: 'SideEffect', time: T(30), seq: 3, name: 'uuid', result: 'x'},
				{id: 7, type: 'EventSent', time: T(30), seq: 4, name: 'done', instanceId: 'other'},
				{id: 8, type: 'ExecutionCompleted', time: T(31), status: 'COMPLETED', result: 1},
			];
			const mod = m.buildModel(ev, {status: 'COMPLETED'});
			const svg = d.renderDiagram(mod, () => {});
			return {
				rows: mod.rows.map((r) => r.nodes.map((n) => n.kind + ':' + n.outcome)),
				texts: [...svg.querySelectorAll('.node text.o')].map((e) => e.textContent),
				children: m.childrenOf(mod.steps).map((c) => c.instanceId),
				summary: tl.summary(ev[1]),
			};`)
		check(got, map[string]string{
			"rows":     `[["start:completed"],["child:completed","wait:timedout"],["sideeffect:completed"],["send:completed"],["end:completed"]]`,
			"texts":    `["started","completed","timed out after 30.0 s","completed","completed","completed"]`,
			"children": `["p:1"]`,
			"summary":  `"Started child Child as p:1 (step 1)"`,
		})
	})

	t.Run("loops-fold-and-huge-rows-collapse", func(t *testing.T) {
		got := run(`
			const ev = [{id: 1, type: 'ExecutionStarted', time: T(0), name: 'Monitor'}];
			let seq = 0;
			for (let i = 0; i < 10; i++) {
				seq++; ev.push({id: ev.length + 1, type: 'TaskScheduled', time: T(i), seq, name: 'check'});
				ev.push({id: ev.length + 1, type: 'TaskCompleted', time: T(i), seq, name: 'check', attempts: [{attempt: 1}]});
				seq++; ev.push({id: ev.length + 1, type: 'TimerCreated', time: T(i), seq, fireAt: T(i + 1)});
				ev.push({id: ev.length + 1, type: 'TimerFired', time: T(i + 1), seq});
			}
			// 1,000 different side effects: more rows than the diagram draws.
			for (let i = 0; i < 1000; i++) ev.push({id: ev.length + 1, type: 'SideEffect', time: T(20), seq: ++seq, name: 'step' + i});
			const mod = m.buildModel(ev, {status: 'RUNNING'});
			const svg = d.renderDiagram(mod, () => {});
			const loop = mod.rows[1];
			return {
				loop: loop.loop ? [loop.times, loop.rows.map((r) => r.nodes.map((n) => n.name + ' x' + n.count))] : null,
				rows: mod.rows.length,
				nodes: svg.querySelectorAll('.node').length,
				more: mod.rows[mod.rows.length - 2].nodes[0].name,
				last: mod.rows[mod.rows.length - 1].nodes[0].kind,
				loopLabel: svg.querySelector('.loop text').textContent,
			};`)
		check(got, map[string]string{
			"loop":      `[10,[["check x10"],["Sleep 1.00 s x10"]]]`,
			"rows":      `300`,
			"more":      `"704 more steps"`,
			"last":      `"now"`,
			"loopLabel": `"↻ repeated 10 times"`,
		})
		if n := got["nodes"].(float64); n > 310 {
			t.Errorf("%v nodes drawn", n)
		}
	})

	t.Run("parallel-activities-side-by-side", func(t *testing.T) {
		got := run(`
			const ev = [{id: 1, type: 'ExecutionStarted', time: T(0), name: 'Trip'}];
			for (const [seq, name] of [[1, 'book_car'], [2, 'book_hotel']]) ev.push({id: ev.length + 1, type: 'TaskScheduled', time: T(0), seq, name});
			ev.push({id: ev.length + 1, type: 'TimerCreated', time: T(0), seq: 3, fireAt: T(60)});
			ev.push({id: ev.length + 1, type: 'TaskFailed', time: T(2), seq: 2, name: 'book_hotel', failure: {message: 'full', type: 'NoRoom'},
				attempts: [{attempt: 1, failure: {message: 'busy'}, nextRetryAt: T(1)}, {attempt: 2, failure: {message: 'full', type: 'NoRoom'}}]});
			ev.push({id: ev.length + 1, type: 'TaskCompleted', time: T(3), seq: 1, name: 'book_car', result: 'C1', attempts: [{attempt: 1}]});
			ev.push({id: ev.length + 1, type: 'TaskScheduled', time: T(3), seq: 4, name: 'undo_book_car', options: {compensation: true}});
			const mod = m.buildModel(ev, {status: 'RUNNING', pending: [{kind: 'activity', step: 4, name: 'undo_book_car', state: 'READY', attempt: 2,
				lastFailure: {message: 'timeout', type: 'Timeout'}, nextAttemptAt: T(9)}]});
			const svg = d.renderDiagram(mod, () => {});
			return {
				rows: mod.rows.map((r) => r.nodes.map((n) => n.name + ':' + n.outcome + (n.compensation ? ':comp' : ''))),
				comp: svg.querySelector('.node.comp text.k').textContent,
				failed: svg.querySelector('.node.o-failed text.o').textContent,
				bars: svg.querySelectorAll('.edges line.bar').length,
			};`)
		check(got, map[string]string{
			"rows":   `[["Trip:completed"],["book_car:completed","book_hotel:failed","Sleep 1 min 0 s:running","undo_book_car:retrying:comp"],["Running:running"]]`,
			"comp":   `"COMPENSATION · ACTIVITY"`,
			"failed": `"failed after 2 attempts"`,
		})
	})

	// Run ids are time-ordered (UUID version 7): the runs of one instance
	// share their first characters, so a short label is the id's end.
	t.Run("short-run-ids", func(t *testing.T) {
		got := run(`
			const f = await import('/assets/` + version + `/js/format.js');
			const prev = '019af9c3-c7a3-774f-8474-bd873250beee', next = '019af9c3-c7b0-7a01-9c2e-0d5f61a7c3b9';
			const mod = m.buildModel([{id: 1, type: 'ExecutionStarted', time: T(0), name: 'Monitor'}], {status: 'RUNNING', previousRunId: prev});
			const svg = d.renderDiagram(mod, () => {});
			return {labels: [f.shortID(prev), f.shortID(next)], start: svg.querySelector('.node text.o').textContent, short: f.shortID('r-1')};`)
		check(got, map[string]string{
			"labels": `["…3250beee","…61a7c3b9"]`,
			"start":  `"continued from run …3250beee"`,
			"short":  `"r-1"`,
		})
	})

	t.Run("waiting-panel", func(t *testing.T) {
		got := run(`
			const inst = {status: 'RUNNING', waiting: [{kind: 'event', name: 'cancel'}, {kind: 'activity', step: 1, name: 'Upload'}, {kind: 'more', count: 4}]};
			const progress = {pending: [{kind: 'activity', step: 1, name: 'Upload', state: 'PENDING', attempt: 2, since: T(0),
				heartbeatDetails: {sent: 3}, taskToken: 'tok-123', lastFailure: {message: 'reset', type: 'IOError'}}],
				bufferedEvents: [{name: 'note', raisedAt: T(1), data: 'hi'}]};
			const div = document.createElement('div');
			div.append(...w.waitingPanel(inst, progress, () => {}));
			return {text: div.textContent, buttons: [...div.querySelectorAll('button')].map((b) => b.textContent),
				summary: w.waitingSummary({waiting: [{kind: 'activity', name: 'a'}, {kind: 'activity', name: 'a'}, {kind: 'event', name: 'go'}]})};`)
		text := got["text"].(string)
		for _, want := range []string{"Upload (step 1)", "Attempt 2: waiting for completion by task token", "Last attempt failed: reset (IOError)",
			`"sent": 3`, "tok-123", "cancel", "Waiting for this event to be raised (no timeout)", "… and 4 more", "Raised, not consumed yet", "note"} {
			if !strings.Contains(text, want) {
				t.Errorf("waiting panel lacks %q:\n%s", want, text)
			}
		}
		check(got, map[string]string{"buttons": `["Raise cancel…"]`, "summary": `"2 × activity a, event go"`})
	})
}
