package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/perdure/perdure/server/api"
)

// printJSON writes v as the API does (same escaping), indented.
func printJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err = w.Write(buf.Bytes())
	return err
}

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

// timeLayout is how times are shown: local time, to the second.
const timeLayout = "2006-01-02 15:04:05"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(timeLayout)
}

func fmtTimePtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return fmtTime(*t)
}

// fmtClock shows a time of day, with the date when it is not today.
func fmtClock(t, now time.Time) string {
	t, now = t.Local(), now.Local()
	if t.YearDay() == now.YearDay() && t.Year() == now.Year() {
		return t.Format("15:04:05")
	}
	return t.Format(timeLayout)
}

// fmtDuration rounds d for people: 850ms, 12.3s, 3m20s, 2h05m.
func fmtDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", d/time.Minute, d%time.Minute/time.Second)
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", d/time.Hour, d%time.Hour/time.Minute)
}

// fmtCountdown says when t comes, from now, in whole seconds.
func fmtCountdown(t, now time.Time) string {
	d := t.Sub(now)
	switch {
	case d <= 0:
		return "now"
	case d < time.Second:
		return "in <1s"
	case d < time.Minute:
		return "in " + d.Round(time.Second).String()
	}
	return "in " + fmtDuration(d)
}

// fmtPayload shows a JSON payload on one line, shortened to max bytes.
func fmtPayload(raw json.RawMessage, max int) string {
	if api.IsNull(raw) {
		return "-"
	}
	var buf bytes.Buffer
	s := string(raw)
	if json.Compact(&buf, raw) == nil {
		s = buf.String()
	}
	return shorten(s, max)
}

func shorten(s string, max int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if max > 0 && len(s) > max {
		cut := max - 1
		for cut > 0 && s[cut]&0xC0 == 0x80 { // do not split a UTF-8 sequence
			cut--
		}
		return s[:cut] + "…"
	}
	return s
}

// fmtFailure shows a failure as "message (type)", with its causes.
func fmtFailure(f *api.Failure) string {
	if f == nil {
		return "-"
	}
	s := firstLine(f.Message)
	if f.Type != "" && !strings.HasSuffix(s, "("+f.Type+")") {
		s += " (" + f.Type + ")"
	}
	return s
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// printInstance shows an instance's status as a list of fields.
func printInstance(w io.Writer, in *api.Instance) {
	tw := newTable(w)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("Instance", in.InstanceID)
	row("Workflow", in.WorkflowName)
	row("Status", string(in.Status))
	row("Run", in.RunID)
	row("Created", fmtTime(in.CreatedAt))
	row("Updated", fmtTime(in.UpdatedAt))
	if in.CompletedAt != nil {
		row("Completed", fmtTimePtr(in.CompletedAt)+"  (took "+fmtDuration(in.CompletedAt.Sub(in.CreatedAt))+")")
	}
	if in.ParentInstanceID != "" {
		row("Parent", in.ParentInstanceID)
	}
	if in.PreviousRunID != "" {
		row("Previous run", in.PreviousRunID)
	}
	row("Input", fmtPayload(in.Input, 500))
	if !api.IsNull(in.Output) {
		row("Output", fmtPayload(in.Output, 500))
	}
	if !api.IsNull(in.CustomStatus) {
		row("Custom status", fmtPayload(in.CustomStatus, 500))
	}
	if in.Failure != nil {
		row("Failure", fmtFailure(in.Failure))
		for c := in.Failure.Cause; c != nil; c = c.Cause {
			row("  cause", fmtFailure(c))
		}
	}
	if in.TaskError != "" {
		row("Task error", firstLine(in.TaskError)+"  (the engine retries; fix the workflow code and restart its worker)")
	}
	_ = tw.Flush()
}

// printInstances shows instances as a table.
func printInstances(w io.Writer, list []*api.Instance) {
	tw := newTable(w)
	fmt.Fprintln(tw, "INSTANCE ID\tWORKFLOW\tSTATUS\tCREATED\tUPDATED")
	for _, in := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", in.InstanceID, in.WorkflowName, in.Status, fmtTime(in.CreatedAt), fmtTime(in.UpdatedAt))
	}
	_ = tw.Flush()
}

// printHistory shows history events as a table.
func printHistory(w io.Writer, h *api.History) {
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tTIME\tTYPE\tSTEP\tDETAILS")
	for _, ev := range h.Events {
		step := ""
		if ev.Seq != 0 {
			step = fmt.Sprint(ev.Seq)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", ev.ID, ev.Time.Local().Format("15:04:05.000"), ev.Type, step, eventDetails(ev))
	}
	_ = tw.Flush()
}

// eventDetails summarises the fields an event uses.
func eventDetails(ev *api.Event) string {
	var parts []string
	add := func(format string, args ...any) { parts = append(parts, fmt.Sprintf(format, args...)) }
	if ev.Name != "" {
		add("%s", ev.Name)
	}
	if ev.InstanceID != "" && ev.Type != "ExecutionStarted" {
		add("instance %s", ev.InstanceID)
	}
	if len(ev.Input) > 0 {
		add("input %s", fmtPayload(json.RawMessage(ev.Input), 60))
	}
	if len(ev.Result) > 0 {
		add("result %s", fmtPayload(json.RawMessage(ev.Result), 60))
	}
	if ev.Status != "" {
		add("%s", ev.Status)
	}
	if ev.Failure != nil {
		add("failure: %s", shorten(fmtFailure(ev.Failure), 100))
	}
	if ev.Reason != "" {
		add("reason %q", ev.Reason)
	}
	if !ev.FireAt.IsZero() && ev.Type == "TimerCreated" {
		add("fires %s", fmtTime(ev.FireAt))
	}
	if name, ok := strings.CutPrefix(ev.Purpose, "event:"); ok {
		add("timeout of the wait for event %q", name)
	}
	if n := len(ev.Attempts); n > 1 {
		add("after %d attempts", n)
	}
	if ev.Source != "" {
		add("at %s", ev.Source)
	}
	return strings.Join(parts, ", ")
}

// pendingLines describes what a running instance waits on, one line per
// pending step. With countdown, times are relative to now (for a live
// view); otherwise absolute (so that the lines only change with the state).
func pendingLines(p *api.Progress, now time.Time, countdown bool) []string {
	at := func(t time.Time) string {
		if countdown {
			return fmtCountdown(t, now)
		}
		return "at " + fmtClock(t, now)
	}
	var lines []string
	for _, s := range p.Pending {
		var d string
		switch s.Kind {
		case api.PendingActivity:
			d = describeActivity(s, at)
		case api.PendingTimer:
			d = "timer fires " + at(derefTime(s.FireAt))
		case api.PendingEvent:
			d = fmt.Sprintf("waiting for event %q (gives up %s)", s.Name, at(derefTime(s.FireAt)))
		case api.PendingChild:
			d = fmt.Sprintf("child workflow %s (instance %s)", s.Name, s.InstanceID)
		default:
			d = s.Kind + " " + s.Name
		}
		lines = append(lines, fmt.Sprintf("step %d  %s", s.Step, d))
	}
	if len(p.BufferedEvents) > 0 {
		var names []string
		for _, e := range p.BufferedEvents {
			names = append(names, e.Name)
		}
		lines = append(lines, "events not yet consumed: "+strings.Join(names, ", "))
	}
	return lines
}

func describeActivity(s *api.PendingStep, at func(time.Time) string) string {
	d := "activity " + s.Name + ": "
	switch s.State {
	case "READY":
		if s.Attempt == 0 {
			return d + "waiting for a worker"
		}
		d += fmt.Sprintf("attempt %d failed", s.Attempt)
		if s.LastFailure != nil {
			d += ": " + shorten(fmtFailure(s.LastFailure), 80)
		}
		if s.NextAttemptAt != nil {
			return d + fmt.Sprintf("; attempt %d %s", s.Attempt+1, at(*s.NextAttemptAt))
		}
		return d + fmt.Sprintf("; attempt %d waiting for a worker", s.Attempt+1)
	case "RUNNING":
		d += fmt.Sprintf("attempt %d running", s.Attempt)
		if s.LastFailure != nil {
			d += "; last error: " + shorten(fmtFailure(s.LastFailure), 80)
		}
		return d
	case "PENDING":
		return d + fmt.Sprintf("attempt %d waiting for completion by task token: perdure activity complete %s --result JSON", s.Attempt, s.TaskToken)
	}
	return d + "result received; the workflow continues"
}

func derefTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// stateLine says in a few words where the instance is.
func stateLine(p *api.Progress) string {
	in := p.Instance
	switch {
	case in.Finished():
		return string(in.Status)
	case in.Status == "PENDING":
		return "PENDING: waiting to start"
	case in.Status == "SUSPENDED":
		return "SUSPENDED: resume it with perdure workflow resume " + in.InstanceID
	case in.TaskError != "":
		return "RUNNING, but its workflow task fails: " + shorten(firstLine(in.TaskError), 120)
	case len(p.Pending) == 0 && len(p.BufferedEvents) == 0:
		return "RUNNING: waiting for an event or its next step"
	}
	return string(in.Status)
}

// printProgress shows an instance and, while it runs, what it waits on.
func printProgress(w io.Writer, p *api.Progress) {
	printInstance(w, p.Instance)
	if p.Instance.Finished() {
		return
	}
	fmt.Fprintf(w, "\n%s\n", stateLine(p))
	if p.LastEvent != nil {
		fmt.Fprintf(w, "Last event   #%d %s %s at %s\n", p.LastEvent.ID, p.LastEvent.Type, p.LastEvent.Name, fmtTime(p.LastEvent.Time))
	}
	if lines := pendingLines(p, time.Now(), false); len(lines) > 0 {
		fmt.Fprintln(w, "Pending:")
		for _, l := range lines {
			fmt.Fprintln(w, "  "+l)
		}
	}
}
