package bench

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/internal/names"
	"github.com/perdure/perdure/workflow"
)

// SleeperEvent is the event the event sleepers wait for.
const SleeperEvent = "wake"

// Concurrency of the sleepers scenario's client side.
const (
	// sleeperStarters: StartWorkflow calls in flight while the sleepers
	// are started (the group commit batches them).
	sleeperStarters = 256
	// sleeperRaisers: events raised at once, each followed by a wait for
	// the workflow's completion, in the event phase.
	sleeperRaisers = 100
	// settle: pause before memory is read, so that the last workflow
	// tasks have left the cache and their goroutines have ended.
	settle = 500 * time.Millisecond
)

// The engine's defaults (perdure.Options leaves them so): the live-instance
// cache holds engineCacheSize runners, and a run that waits only on events
// or on timers due more than engineIdleHorizon later is dropped from it
// after its workflow task (engine.Config.CacheSize and IdleHorizon).
const (
	engineCacheSize   = 10000
	engineIdleHorizon = time.Minute
)

// SleeperTimer is the input of SleeperTimerWorkflow.
type SleeperTimer struct {
	N   int       `json:"n"`
	Due time.Time `json:"due"`
}

// SleeperTimerResult is what SleeperTimerWorkflow returns: its input, the
// workflow time when it armed its timer and the workflow time when the code
// ran again after the timer fired.
type SleeperTimerResult struct {
	N       int       `json:"n"`
	Due     time.Time `json:"due"`
	ArmedAt time.Time `json:"armed_at"`
	FiredAt time.Time `json:"fired_at"`
}

// SleeperTimerWorkflow sleeps on a durable timer until in.Due and returns
// when it armed the timer and when it woke up. Workflow time (workflow.Now)
// is the time of the workflow task that runs the code: after the timer, it
// is when the engine started the task that delivered TimerFired.
func SleeperTimerWorkflow(ctx workflow.Context, in SleeperTimer) (SleeperTimerResult, error) {
	armed := workflow.Now(ctx)
	if err := workflow.Sleep(ctx, in.Due.Sub(armed)); err != nil {
		return SleeperTimerResult{}, err
	}
	return SleeperTimerResult{N: in.N, Due: in.Due, ArmedAt: armed, FiredAt: workflow.Now(ctx)}, nil
}

// SleeperEventWorkflow waits for the event SleeperEvent and returns n plus
// the event's value.
func SleeperEventWorkflow(ctx workflow.Context, n int) (int, error) {
	v, err := workflow.WaitEvent[int](ctx, SleeperEvent).Get(ctx)
	if err != nil {
		return 0, err
	}
	return n + v, nil
}

// Mem is a reading of the process's memory.
type Mem struct {
	// RSSBytes is VmRSS of /proc/self/status (0 where there is none);
	// PeakRSSBytes is VmHWM, the highest RSS so far.
	RSSBytes, PeakRSSBytes uint64
	// HeapBytes is the Go heap in use (runtime.MemStats.HeapAlloc) after a
	// forced garbage collection: live objects only.
	HeapBytes uint64
	// StackBytes is the goroutine stacks in use (runtime.MemStats.StackInuse).
	StackBytes uint64
	// SysBytes is the memory the Go runtime holds from the OS.
	SysBytes   uint64
	Goroutines int
}

// ReadMem reads RSS first, as an operator would see it, then collects
// garbage and reads the live Go heap.
func ReadMem() Mem {
	var m Mem
	m.RSSBytes, m.PeakRSSBytes = procStatus()
	m.Goroutines = runtime.NumGoroutine()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.HeapBytes, m.StackBytes, m.SysBytes = ms.HeapAlloc, ms.StackInuse, ms.Sys
	return m
}

// SleepersResult holds the sleepers figures; the JSON keys are a contract.
type SleepersResult struct {
	Scenario string `json:"scenario"`
	Mode     string `json:"mode"`
	Store    string `json:"store"`
	Sleepers int    `json:"sleepers"`
	// Timers and Events: how many wait on a timer, how many on an event.
	Timers int `json:"timer_workflows"`
	Events int `json:"event_workflows"`
	// StartSeconds: time to start every sleeper and see each one waiting
	// (RUNNING after its first workflow task), without the idle margin
	// before the first timer.
	StartSeconds    float64 `json:"start_seconds"`
	StartsPerSecond float64 `json:"starts_per_second"`

	// Memory while every sleeper waits, and before the first was started.
	RSSMB          float64 `json:"rss_mb"`
	HeapMB         float64 `json:"heap_mb"`
	StackMB        float64 `json:"stack_mb"`
	GoSysMB        float64 `json:"go_sys_mb"`
	Goroutines     int     `json:"goroutines"`
	BaseRSSMB      float64 `json:"base_rss_mb"`
	BaseHeapMB     float64 `json:"base_heap_mb"`
	BaseGoroutines int     `json:"base_goroutines"`
	// While only the event sleepers wait (before the timers are started).
	HalfRSSMB      float64 `json:"events_waiting_rss_mb"`
	HalfHeapMB     float64 `json:"events_waiting_heap_mb"`
	HalfGoroutines int     `json:"events_waiting_goroutines"`
	// BytesPerSleeper: (heap while waiting − heap before) / sleepers.
	BytesPerSleeper float64 `json:"heap_bytes_per_sleeper"`
	// RSSPerSleeper: (RSS while waiting − RSS before) / sleepers.
	RSSPerSleeper float64 `json:"rss_bytes_per_sleeper"`
	PeakRSSMB     float64 `json:"peak_rss_mb"`

	// Timers: due TimerRate per second from the first due time on.
	TimerRate int `json:"timer_rate"`
	// TimerSeconds: first due time → last timer workflow woken;
	// TimersPerSecond: Timers / TimerSeconds.
	TimerSeconds    float64 `json:"timer_seconds"`
	TimersPerSecond float64 `json:"timers_per_second"`
	// Lateness of the fire: workflow.Now after the timer − due time.
	TimerLateP50Ms float64 `json:"timer_late_p50_ms"`
	TimerLateP99Ms float64 `json:"timer_late_p99_ms"`
	TimerLateMaxMs float64 `json:"timer_late_max_ms"`
	// Lateness of the result: when the client's wait for the workflow's
	// completion returned − due time.
	TimerDoneP50Ms float64 `json:"timer_done_late_p50_ms"`
	TimerDoneP99Ms float64 `json:"timer_done_late_p99_ms"`
	TimerDoneMaxMs float64 `json:"timer_done_late_max_ms"`
	// Workflow tasks that delivered a timer: from the cache, or replayed.
	TimerTasksCached   int `json:"timer_tasks_cached"`
	TimerTasksReplayed int `json:"timer_tasks_replayed"`

	// Events: raised sleeperRaisers at a time, each followed by a wait for
	// the workflow's result; latency is raise → result.
	EventConcurrency int     `json:"event_concurrency"`
	EventSeconds     float64 `json:"event_seconds"`
	EventsPerSecond  float64 `json:"events_per_second"`
	EventP50Ms       float64 `json:"event_p50_ms"`
	EventP99Ms       float64 `json:"event_p99_ms"`
	EventMaxMs       float64 `json:"event_max_ms"`
	EventTasksCached int     `json:"event_tasks_cached"`
	EventTasksReplay int     `json:"event_tasks_replayed"`

	// Completed: sleepers that completed with the right result (all of
	// them, or the run fails).
	Completed int `json:"completed"`
	Setup
}

func (e *Env) sleeperID(kind string, i int) string {
	return fmt.Sprintf("%ssleep-%s-%d", e.prefix, kind, i)
}

// startSleepers starts n workflows, sleeperStarters at a time, and waits
// until all of them are RUNNING (their first workflow task committed: they
// wait).
func (e *Env) startSleepers(ctx context.Context, n int, kind string, fn any, input func(i int) any) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, sleeperStarters)
	for range min(sleeperStarters, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if _, err := e.Client.StartWorkflow(ctx, fn, input(i), perdure.StartOptions{InstanceID: e.sleeperID(kind, i)}); err != nil {
					errs <- fmt.Errorf("sleepers: start %s: %w", e.sleeperID(kind, i), err)
					cancel()
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	name, err := names.Bare(fn)
	if err != nil {
		return err
	}
	return e.waitRunning(ctx, name, e.prefix+"sleep-"+kind+"-*", n)
}

// waitRunning polls the store until want instances of workflow name whose
// ids match pattern are RUNNING; any that finished or failed its task is an
// error.
func (e *Env) waitRunning(ctx context.Context, name, pattern string, want int) error {
	for {
		counts, err := e.Client.CountInstances(ctx, perdure.ListFilter{Name: name, InstanceID: pattern})
		if err != nil {
			return err
		}
		if counts[perdure.StatusRunning] == int64(want) {
			return nil
		}
		for st, c := range counts {
			if c > 0 && st != perdure.StatusRunning && st != perdure.StatusPending {
				return fmt.Errorf("sleepers: %d %s instances are %s while they should wait (a timer due before all were started: the starts were slower than the margin allowed)", c, name, st)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func runSleepers(ctx context.Context, e *Env, cfg Config, progress func(string, ...any)) (*SleepersResult, error) {
	n := cfg.Sleepers
	nEvents := n / 2
	nTimers := n - nEvents
	res := &SleepersResult{Scenario: Sleepers, Mode: cfg.Mode, Store: e.Store, Sleepers: n, Timers: nTimers, Events: nEvents,
		TimerRate: cfg.TimerRate, EventConcurrency: sleeperRaisers,
		Setup: e.setup(cfg)}
	time.Sleep(settle)
	base := ReadMem()
	progress("before: RSS %.1f MB, Go heap %.1f MB, %d goroutines", mb(base.RSSBytes), mb(base.HeapBytes), base.Goroutines)

	// Event sleepers first: how long they take to start tells how far
	// ahead the timers must be due for all of them to be armed in time.
	progress("starting %d workflows that wait for an event", nEvents)
	began := time.Now()
	if err := e.startSleepers(ctx, nEvents, "e", SleeperEventWorkflow, func(i int) any { return i }); err != nil {
		return nil, err
	}
	eventStart := time.Since(began)
	progress("%d event sleepers waiting after %.3f s", nEvents, eventStart.Seconds())
	time.Sleep(settle)
	half := ReadMem()
	res.HalfRSSMB, res.HalfHeapMB, res.HalfGoroutines = mb(half.RSSBytes), mb(half.HeapBytes), half.Goroutines
	progress("while the %d event sleepers wait: RSS %.1f MB, Go heap %.1f MB, %d goroutines", nEvents, res.HalfRSSMB, res.HalfHeapMB, res.HalfGoroutines)

	// The timers are due from t0 on, TimerRate per second. t0 leaves time
	// to start them all (twice as long as the events took) and to read
	// memory. A timer armed less than the engine's IdleHorizon before it
	// is due keeps its runner in the engine's cache, up to CacheSize;
	// later ones are dropped and replayed when they fire. With more timers
	// than the cache holds, t0 is also at least IdleHorizon (and 5 s)
	// away, so that most are dropped: a cache that fills up while the
	// timers start evicts a runner for every start, which slowed the
	// starts down by a third to more than double on the reference
	// machine, enough to miss the margin. Timers whose first workflow task
	// ran late in the start phase are still armed within the horizon and
	// cached; how many is counted from the engine's observer (timer tasks
	// cached / replayed) and shows in the goroutines and memory figures.
	interval := time.Second / time.Duration(cfg.TimerRate)
	began = time.Now()
	lead := 2*eventStart + 2*settle + time.Second
	if nTimers > engineCacheSize {
		lead = max(lead, engineIdleHorizon+5*time.Second)
	}
	t0 := began.Add(lead).UTC().Truncate(time.Millisecond)
	due := func(i int) time.Time { return t0.Add(time.Duration(i) * interval) }
	progress("starting %d workflows that sleep on a timer, due %d per second from %s on", nTimers, cfg.TimerRate, t0.Format("15:04:05.000"))
	if err := e.startSleepers(ctx, nTimers, "t", SleeperTimerWorkflow, func(i int) any { return SleeperTimer{N: i, Due: due(i)} }); err != nil {
		return nil, err
	}
	timerStart := time.Since(began)
	res.StartSeconds = round3((eventStart + timerStart).Seconds())
	res.StartsPerSecond = round1(float64(n) / (eventStart + timerStart).Seconds())
	progress("all %d sleepers waiting after %.3f s of starts", n, res.StartSeconds)

	time.Sleep(settle)
	m := ReadMem()
	if time.Now().After(t0) {
		return nil, fmt.Errorf("sleepers: the first timer was due at %s, before memory was read with every sleeper waiting (starting the timers took %.1f s, the events %.1f s): the margin was too short on this machine",
			t0.Format("15:04:05.000"), timerStart.Seconds(), eventStart.Seconds())
	}
	res.RSSMB, res.HeapMB, res.StackMB, res.GoSysMB, res.Goroutines = mb(m.RSSBytes), mb(m.HeapBytes), mb(m.StackBytes), mb(m.SysBytes), m.Goroutines
	res.BaseRSSMB, res.BaseHeapMB, res.BaseGoroutines = mb(base.RSSBytes), mb(base.HeapBytes), base.Goroutines
	res.BytesPerSleeper = round1(float64(int64(m.HeapBytes)-int64(base.HeapBytes)) / float64(n))
	res.RSSPerSleeper = round1(float64(int64(m.RSSBytes)-int64(base.RSSBytes)) / float64(n))
	progress("while %d wait: RSS %.1f MB, Go heap %.1f MB, stacks %.1f MB, %d goroutines", n, res.RSSMB, res.HeapMB, res.StackMB, res.Goroutines)

	timerName, _ := names.Bare(SleeperTimerWorkflow)
	eventName, _ := names.Bare(SleeperEventWorkflow)
	before, err := e.taskCounts()
	if err != nil {
		return nil, err
	}
	progress("timers: %d due from %s, %d per second", nTimers, t0.Format("15:04:05.000"), cfg.TimerRate)
	fireLate, doneLate, lastFired, err := e.awaitTimers(ctx, nTimers, due)
	if err != nil {
		return nil, err
	}
	after, err := e.waitTasks(timerName, before, nTimers)
	if err != nil {
		return nil, err
	}
	res.TimerTasksCached = after.get(timerName, "cached") - before.get(timerName, "cached")
	res.TimerTasksReplayed = after.get(timerName, "replayed") - before.get(timerName, "replayed")
	span := lastFired.Sub(t0) + interval
	res.TimerSeconds = round3(span.Seconds())
	res.TimersPerSecond = round1(float64(nTimers) / span.Seconds())
	res.TimerLateP50Ms, res.TimerLateP99Ms, res.TimerLateMaxMs = ms(percentile(fireLate, 50)), ms(percentile(fireLate, 99)), ms(percentile(fireLate, 100))
	res.TimerDoneP50Ms, res.TimerDoneP99Ms, res.TimerDoneMaxMs = ms(percentile(doneLate, 50)), ms(percentile(doneLate, 99)), ms(percentile(doneLate, 100))
	progress("timers: fired late by p50 %.3f ms, p99 %.3f ms; results late by p99 %.3f ms", res.TimerLateP50Ms, res.TimerLateP99Ms, res.TimerDoneP99Ms)

	progress("events: raising %d, %d at a time", nEvents, sleeperRaisers)
	began = time.Now()
	lat, err := e.raiseEvents(ctx, nEvents)
	if err != nil {
		return nil, err
	}
	took := time.Since(began)
	final, err := e.waitTasks(eventName, after, nEvents)
	if err != nil {
		return nil, err
	}
	res.EventTasksCached = final.get(eventName, "cached") - after.get(eventName, "cached")
	res.EventTasksReplay = final.get(eventName, "replayed") - after.get(eventName, "replayed")
	res.EventSeconds = round3(took.Seconds())
	res.EventsPerSecond = round1(float64(nEvents) / took.Seconds())
	res.EventP50Ms, res.EventP99Ms, res.EventMaxMs = ms(percentile(lat, 50)), ms(percentile(lat, 99)), ms(percentile(lat, 100))
	progress("events: %d delivered in %.3f s, p99 %.3f ms", nEvents, took.Seconds(), res.EventP99Ms)

	// Nothing lost: every sleeper completed (each result was checked by
	// awaitTimers and raiseEvents), and none is left in another state.
	counts, err := e.Client.CountInstances(ctx, perdure.ListFilter{InstanceID: e.prefix + "sleep-*"})
	if err != nil {
		return nil, err
	}
	var total int64
	for _, c := range counts {
		total += c
	}
	if counts[perdure.StatusCompleted] != int64(n) || total != int64(n) {
		return nil, fmt.Errorf("sleepers: %d instances, %v by status; want all %d COMPLETED", total, counts, n)
	}
	res.Completed = n
	_, peak := procStatus()
	res.PeakRSSMB = mb(peak)
	return res, nil
}

// awaitTimers waits for the n timer sleepers, each from shortly before its
// due time, and checks each result: its own input back, a timer armed
// before it was due and never fired early. It returns, per timer, how late
// the workflow ran after its due time (fire) and how late the client saw
// its result (done), and the latest fire.
func (e *Env) awaitTimers(ctx context.Context, n int, due func(int) time.Time) (fire, done []time.Duration, last time.Time, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fire = make([]time.Duration, n)
	done = make([]time.Duration, n)
	fired := make([]time.Time, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
		cancel()
	}
	const lead = 200 * time.Millisecond // waits start this long before the due time
	for i := range n {
		d := due(i)
		if wait := time.Until(d.Add(-lead)); wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			id := e.sleeperID("t", i)
			inst, err := e.Client.WaitForCompletion(ctx, id)
			doneAt := time.Now()
			if err != nil {
				fail(fmt.Errorf("sleepers: %s: %w", id, err))
				return
			}
			if inst.Status != perdure.StatusCompleted {
				fail(fmt.Errorf("sleepers: %s: %w", id, &perdure.WorkflowError{InstanceID: id, Status: inst.Status, Failure: inst.Failure}))
				return
			}
			var r SleeperTimerResult
			if err := inst.DecodeOutput(&r); err != nil {
				fail(fmt.Errorf("sleepers: %s: %w", id, err))
				return
			}
			switch {
			case r.N != i || !r.Due.Equal(d):
				err = fmt.Errorf("returned n %d due %s, want %d due %s", r.N, r.Due, i, d)
			case !r.ArmedAt.Before(d):
				err = fmt.Errorf("armed its timer at %s, not before it was due at %s: the starts were slower than the margin allowed", r.ArmedAt, d)
			case r.FiredAt.Before(d):
				err = fmt.Errorf("woke at %s, before its timer was due at %s", r.FiredAt, d)
			}
			if err != nil {
				fail(fmt.Errorf("sleepers: %s: %w", id, err))
				return
			}
			fire[i], done[i], fired[i] = r.FiredAt.Sub(d), doneAt.Sub(d), r.FiredAt
		})
	}
	wg.Wait()
	if first != nil {
		return nil, nil, time.Time{}, first
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, time.Time{}, err
	}
	for _, t := range fired {
		if t.After(last) {
			last = t
		}
	}
	return fire, done, last, nil
}

// raiseEvents raises SleeperEvent with value i+1 to each event sleeper i,
// sleeperRaisers at a time, waits for each one's result, checks it is
// 2i+1, and returns each raise → result time.
func (e *Env) raiseEvents(ctx context.Context, n int) ([]time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, sleeperRaisers)
	for range min(sleeperRaisers, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				id := e.sleeperID("e", i)
				began := time.Now()
				err := e.Client.RaiseEvent(ctx, id, SleeperEvent, i+1)
				var out int
				if err == nil {
					err = e.result(ctx, id, &out)
				}
				lat[i] = time.Since(began)
				if err == nil && out != 2*i+1 {
					err = fmt.Errorf("returned %d, want %d", out, 2*i+1)
				}
				if err != nil {
					errs <- fmt.Errorf("sleepers: event to %s: %w", id, err)
					cancel()
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return lat, nil
}

func mb(b uint64) float64 { return round1(float64(b) / (1 << 20)) }
