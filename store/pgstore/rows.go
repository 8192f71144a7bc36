package pgstore

import (
	"strings"
	"time"

	"github.com/perdure/perdure/store"
)

// zeroTime is the stored form of an unset time (the zero time.Time).
const zeroTime = `TIMESTAMPTZ '0001-01-01 00:00:00+00'`

// finishedList is the SQL list of the finished statuses.
const finishedList = `('COMPLETED', 'FAILED', 'TERMINATED', 'CONTINUED_AS_NEW')`

type scanner interface{ Scan(dest ...any) error }

// runRow is a run with the columns the contract does not show.
type runRow struct {
	store.Run
	leaseOwner string
	leaseUntil time.Time
	readyAt    *time.Time
}

func (r *runRow) public() *store.Run {
	c := r.Run
	return &c
}

var runColList = []string{"run_id", "instance_id", "name", "status", "is_current", "input", "output", "failure", "custom_status",
	"parent_instance_id", "parent_run_id", "parent_seq", "previous_run_id", "task_queue",
	"created_at", "updated_at", "completed_at", "history_len", "task_error", "lease_owner", "lease_until", "ready_at", "waiting"}

// runCols is the column list that scanRun reads.
var runCols = cols("", runColList)

// cols joins names, each prefixed with prefix (a table alias and a dot).
func cols(prefix string, names []string) string {
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(prefix)
		b.WriteString(n)
	}
	return b.String()
}

// runDest returns the scan destinations of runCols for r; finish converts
// what needs it once the row is scanned.
func runDest(r *runRow) (dest []any, finish func()) {
	var status string
	dest = []any{&r.RunID, &r.InstanceID, &r.Name, &status, &r.Current, &r.Input, &r.Output, &r.Failure, &r.CustomStatus,
		&r.ParentInstanceID, &r.ParentRunID, &r.ParentSeq, &r.PreviousRunID, &r.TaskQueue,
		&r.CreatedAt, &r.UpdatedAt, &r.CompletedAt, &r.HistoryLen, &r.TaskError, &r.leaseOwner, &r.leaseUntil, &r.readyAt, &r.Waiting}
	return dest, func() { r.Status = store.Status(status) }
}

func scanRun(sc scanner) (*runRow, error) {
	r := &runRow{}
	dest, finish := runDest(r)
	if err := sc.Scan(dest...); err != nil {
		return nil, err
	}
	finish()
	return r, nil
}

var taskColList = []string{"run_id", "seq", "instance_id", "name", "task_queue", "input", "options", "state", "attempt",
	"scheduled_at", "visible_at", "started_at", "lease_owner", "lease_until", "deadline",
	"heartbeat_details", "last_failure", "attempts"}

// taskCols is the column list that scanTask reads (due_at is computed).
var taskCols = cols("", taskColList)

func taskDest(t *store.ActivityTask, state *string) []any {
	return []any{&t.RunID, &t.Seq, &t.InstanceID, &t.Name, &t.TaskQueue, &t.Input, &t.Options, state, &t.Attempt,
		&t.ScheduledAt, &t.VisibleAt, &t.StartedAt, &t.LeaseOwner, &t.LeaseUntil, &t.Deadline,
		&t.HeartbeatDetails, &t.LastFailure, &t.Attempts}
}

func scanTask(sc scanner) (*store.ActivityTask, error) {
	t := &store.ActivityTask{}
	var state string
	if err := sc.Scan(taskDest(t, &state)...); err != nil {
		return nil, err
	}
	t.State = store.ActivityState(state)
	return t, nil
}

const msgCols = `id, run_id, type, visible_at, control, data`

func scanMsg(sc scanner) (*store.Message, error) {
	var m store.Message
	if err := sc.Scan(&m.ID, &m.RunID, &m.Type, &m.VisibleAt, &m.Control, &m.Data); err != nil {
		return nil, err
	}
	return &m, nil
}

// utc returns t in UTC at microsecond precision, as stored.
func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// textOrNil binds s as NULL when it is empty.
func textOrNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// namesArg binds a name filter: nil (any name) stays NULL.
func namesArg(names []string) any {
	if names == nil {
		return nil
	}
	return names
}

// timeOrNil binds t as NULL when it is zero ("unchanged").
func timeOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return utc(t)
}
