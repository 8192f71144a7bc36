package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/internal/names"
	"github.com/perdure/perdure/workflow"
)

// ResumeEvent is the event a long-history workflow waits for.
const ResumeEvent = "resume"

// LongHistoryBatch is how many activities a long-history workflow runs at
// once.
const LongHistoryBatch = 100

// LongHistoryWorkflow runs AddOne on 0..activities-1 in a loop, in rounds
// of LongHistoryBatch activities at once (each activity adds a
// TaskScheduled and a TaskCompleted event: a history of 2×activities+1
// events), then waits for the event ResumeEvent, and returns the sum of
// the activities' results, activities(activities+1)/2, plus the event's
// value.
func LongHistoryWorkflow(ctx workflow.Context, activities int) (int, error) {
	sum := 0
	for first := 0; first < activities; first += LongHistoryBatch {
		items := make([]int, min(LongHistoryBatch, activities-first))
		for i := range items {
			items[i] = first + i
		}
		out, err := workflow.FanOut(ctx, items, 0, func(ctx workflow.Context, i int) (int, error) {
			return workflow.ExecuteActivity(ctx, AddOne, i).Get(ctx)
		})
		if err != nil {
			return 0, err
		}
		for _, v := range out {
			sum += v
		}
	}
	v, err := workflow.WaitEvent[int](ctx, ResumeEvent).Get(ctx)
	if err != nil {
		return 0, err
	}
	return sum + v, nil
}

// LongHistoryResult holds the long-history figures; the JSON keys are a
// contract.
type LongHistoryResult struct {
	Scenario string `json:"scenario"`
	Mode     string `json:"mode"`
	Store    string `json:"store"`
	// Instances: long-history workflows, each resumed once (a sample).
	Instances int `json:"instances"`
	// HistoryEvents: the shortest history of them when they waited.
	HistoryEvents int `json:"history_events"`
	// BuildSeconds: time to build every history (they are built at once).
	BuildSeconds float64 `json:"build_seconds"`
	// Resume: raise → the client has the workflow's result, one instance
	// at a time; the step after the event is the workflow's completion.
	ResumeP50Ms float64   `json:"resume_p50_ms"`
	ResumeMaxMs float64   `json:"resume_max_ms"`
	ResumeMinMs float64   `json:"resume_min_ms"`
	ResumeMs    []float64 `json:"resume_ms"`
	// Task: the engine's own time for the workflow task that resumed the
	// run (load and replay of the history, the step, the commit), from its
	// observer; the rest of Resume is the raise's commit, the claim and
	// the notification of the waiting client.
	TaskP50Ms float64 `json:"resume_task_p50_ms"`
	TaskMaxMs float64 `json:"resume_task_max_ms"`
	// Replayed: resumes whose workflow task replayed the history (all of
	// them, or the run fails: the runner must have been evicted).
	Replayed int `json:"replayed"`
	Setup
}

func runLongHistory(ctx context.Context, e *Env, cfg Config, progress func(string, ...any)) (*LongHistoryResult, error) {
	activities := (cfg.HistoryEvents + 1) / 2 // 2 events each, plus ExecutionStarted
	name, _ := names.Bare(LongHistoryWorkflow)
	res := &LongHistoryResult{Scenario: LongHistory, Mode: cfg.Mode, Store: e.Store, Instances: cfg.Resumes,
		Setup: e.setup(cfg)}

	progress("building %d workflows of %d activities each, %d at a time (≥ %d history events), at once", cfg.Resumes, activities, LongHistoryBatch, cfg.HistoryEvents)
	began := time.Now()
	ids := make([]string, cfg.Resumes)
	lens := make([]int64, cfg.Resumes)
	var wg sync.WaitGroup
	errs := make(chan error, cfg.Resumes)
	for i := range ids {
		wg.Go(func() {
			id, err := e.start(ctx, LongHistoryWorkflow, activities)
			if err == nil {
				ids[i] = id
				lens[i], err = e.waitForEvent(ctx, id, ResumeEvent)
			}
			if err != nil {
				errs <- fmt.Errorf("long-history: build: %w", err)
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	res.BuildSeconds = round3(time.Since(began).Seconds())
	res.HistoryEvents = int(slices.Min(lens))
	if res.HistoryEvents < cfg.HistoryEvents {
		return nil, fmt.Errorf("long-history: a history has %d events when it waits, want at least %d", res.HistoryEvents, cfg.HistoryEvents)
	}
	progress("built in %.3f s: %d–%d events each", res.BuildSeconds, res.HistoryEvents, slices.Max(lens))

	// The last workflow task of each build is counted just after its
	// commit, which the build saw: let the counts settle before the
	// resumes are measured against them.
	if err := e.settleTasks(name); err != nil {
		return nil, err
	}
	var resumes, tasks []time.Duration
	want := activities * (activities + 1) / 2
	for i, id := range ids {
		before, err := e.taskCounts()
		if err != nil {
			return nil, err
		}
		began := time.Now()
		if err := e.Client.RaiseEvent(ctx, id, ResumeEvent, i+1); err != nil {
			return nil, fmt.Errorf("long-history: raise to %s: %w", id, err)
		}
		var out int
		if err := e.result(ctx, id, &out); err != nil {
			return nil, fmt.Errorf("long-history: %s: %w", id, err)
		}
		took := time.Since(began)
		if out != want+i+1 {
			return nil, fmt.Errorf("long-history: %s returned %d, want %d", id, out, want+i+1)
		}
		after, err := e.waitTasks(name, before, 1)
		if err != nil {
			return nil, err
		}
		replayed := after.get(name, "replayed") - before.get(name, "replayed")
		cached := after.get(name, "cached") - before.get(name, "cached")
		if replayed != 1 || cached != 0 {
			return nil, fmt.Errorf("long-history: %s resumed in %d replayed and %d cached workflow tasks, want exactly one replay: the run was not evicted from the cache while it waited", id, replayed, cached)
		}
		res.Replayed++
		task := time.Duration((after.seconds[name] - before.seconds[name]) * float64(time.Second))
		resumes, tasks = append(resumes, took), append(tasks, task)
		res.ResumeMs = append(res.ResumeMs, ms(took))
		progress("resume %d/%d: %.3f ms (its workflow task %.3f ms)", i+1, len(ids), ms(took), ms(task))
	}
	res.ResumeP50Ms, res.ResumeMaxMs, res.ResumeMinMs = ms(percentile(resumes, 50)), ms(percentile(resumes, 100)), ms(percentile(resumes, 0))
	res.TaskP50Ms, res.TaskMaxMs = ms(percentile(tasks, 50)), ms(percentile(tasks, 100))
	return res, nil
}

// waitForEvent polls instance id until it waits for the event name, and
// returns its history length then.
func (e *Env) waitForEvent(ctx context.Context, id, name string) (int64, error) {
	for {
		inst, err := e.Client.GetInstance(ctx, id)
		if err != nil {
			return 0, err
		}
		if inst.Status != perdure.StatusRunning && inst.Status != perdure.StatusPending {
			return 0, fmt.Errorf("%s is %s while it should wait for %q", id, inst.Status, name)
		}
		for _, w := range inst.Waiting {
			if w.Kind == "event" && w.Name == name {
				run, err := e.Client.Store().RunGet(ctx, id, "")
				if err != nil {
					return 0, err
				}
				return run.HistoryLen, nil
			}
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
