package bench

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// procStatus returns VmRSS and VmHWM of /proc/self/status in bytes, or
// zeros where there is no such file.
func procStatus() (rss, peak uint64) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			continue
		}
		if k == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
	}
	return rss, peak
}

// taskCounts is a reading of the engine's workflow task counter
// (perdure_workflow_tasks_total) by workflow name and outcome: "cached"
// (the run's live runner came from the cache), "replayed" (its history was
// loaded and replayed) or "failed"; and of its task time histogram
// (perdure_workflow_task_seconds) sum by workflow name.
type taskCounts struct {
	tasks   map[[2]string]int
	seconds map[string]float64
}

func (c taskCounts) get(workflow, outcome string) int { return c.tasks[[2]string{workflow, outcome}] }

// taskCounts reads the engine's observer; the Env must have been created
// with Config.observe.
func (e *Env) taskCounts() (taskCounts, error) {
	c := taskCounts{tasks: map[[2]string]int{}, seconds: map[string]float64{}}
	if e.metrics == nil {
		return c, fmt.Errorf("bench: the engine's metrics are not registered")
	}
	fams, err := e.metrics.Gather()
	if err != nil {
		return c, err
	}
	for _, f := range fams {
		switch f.GetName() {
		case "perdure_workflow_tasks_total":
			for _, m := range f.GetMetric() {
				var wf, outcome string
				for _, l := range m.GetLabel() {
					switch l.GetName() {
					case "workflow":
						wf = l.GetValue()
					case "outcome":
						outcome = l.GetValue()
					}
				}
				c.tasks[[2]string{wf, outcome}] += int(m.GetCounter().GetValue())
			}
		case "perdure_workflow_task_seconds":
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "workflow" {
						c.seconds[l.GetValue()] += m.GetHistogram().GetSampleSum()
					}
				}
			}
		}
	}
	return c, nil
}

// waitTasks reads the engine's observer until it has counted want more
// tasks (cached or replayed) of workflow than before, for at most 5 s, and
// returns a reading begun once it has (the last one at the deadline). The engine tells its observer about a task
// after the task's commit, which is also when a client waiting for the
// workflow learns the result: a reading right after the result may miss
// the task.
func (e *Env) waitTasks(workflow string, before taskCounts, want int) (taskCounts, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := e.taskCounts()
		if err != nil {
			return c, err
		}
		n := c.get(workflow, "cached") + c.get(workflow, "replayed") - before.get(workflow, "cached") - before.get(workflow, "replayed")
		if n >= want {
			// One gathering is no snapshot: it may read the tasks'
			// histogram before a task's time and their counter after its
			// count. The time is observed before the count, so a
			// gathering begun now holds the time of every task counted.
			return e.taskCounts()
		}
		if time.Now().After(deadline) {
			return c, nil
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// settleTasks waits until workflow's task counts have not changed for
// 100 ms (at most 5 s).
func (e *Env) settleTasks(workflow string) error {
	deadline := time.Now().Add(5 * time.Second)
	last, stable := -1, 0
	for stable < 5 && time.Now().Before(deadline) {
		c, err := e.taskCounts()
		if err != nil {
			return err
		}
		n := c.get(workflow, "cached") + c.get(workflow, "replayed")
		if n == last {
			stable++
		} else {
			last, stable = n, 0
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// commitStats sums the group commits of every node: transactions, their
// ops and the time they took.
type commitStats struct {
	commits, ops, seconds float64
}

func (e *Env) commitStats() (commitStats, error) {
	var c commitStats
	for _, n := range e.nodes {
		if n.metrics == nil {
			continue
		}
		fams, err := n.metrics.Gather()
		if err != nil {
			return c, err
		}
		for _, f := range fams {
			for _, m := range f.GetMetric() {
				switch f.GetName() {
				case "perdure_commit_seconds":
					c.commits += float64(m.GetHistogram().GetSampleCount())
					c.seconds += m.GetHistogram().GetSampleSum()
				case "perdure_commit_batch_ops":
					c.ops += m.GetHistogram().GetSampleSum()
				}
			}
		}
	}
	return c, nil
}

// reportCommits prints, with Config.Stats, what the group commits did since
// before, over took: transactions per second, ops per transaction, the
// mean time of one, and the mean number in flight (time in commits over
// took: 1 is one committer always busy).
func (e *Env) reportCommits(progress func(string, ...any), before commitStats, took time.Duration) {
	if !e.cfg.Stats {
		return
	}
	now, err := e.commitStats()
	if err != nil {
		progress("commits: %v", err)
		return
	}
	n, ops, secs := now.commits-before.commits, now.ops-before.ops, now.seconds-before.seconds
	if n == 0 {
		return
	}
	progress("commits: %.0f transactions (%.0f/s), %.1f ops each, %.3f ms each, %.2f in flight on average",
		n, n/took.Seconds(), ops/n, 1000*secs/n, secs/took.Seconds())
}
