package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/perdure/perdure/server/api"
	"github.com/perdure/perdure/server/servertest"
)

func TestWorkflowRaiseSuspendResumeTerminate(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("workflow", "start", "Approval", "--input", `"bike"`, "--id", "r-1")
	out := c.ok("workflow", "suspend", "r-1", "--reason", "audit")
	contains(t, out, "Suspension of r-1 requested")
	var res actionResult
	c.json(&res, "workflow", "raise", "r-1", "approval", "--data", `"Ines"`)
	if !res.Accepted || res.Action != "raise" || res.InstanceID != "r-1" || res.Event != "approval" {
		t.Fatalf("raise json %+v", res)
	}
	waitStatus(t, c, "r-1", "SUSPENDED")
	out = c.ok("workflow", "status", "r-1")
	contains(t, out, "SUSPENDED: resume it with perdure workflow resume r-1", "events not yet consumed: approval")
	out = c.ok("workflow", "resume", "r-1")
	contains(t, out, "Resumed r-1.")
	out = c.ok("workflow", "wait", "r-1")
	contains(t, out, `"bike approved by Ines"`)
	c.fails("has already finished", "workflow", "raise", "r-1", "approval")
	c.fails("--data is not valid JSON", "workflow", "raise", "r-1", "approval", "--data", "{")
	c.fails("needs 2 argument(s), ID EVENT", "workflow", "raise", "r-1")

	c.ok("workflow", "start", "Approval", "--input", `"car"`, "--id", "r-2")
	out = c.ok("workflow", "terminate", "r-2", "--reason", "customer cancelled")
	contains(t, out, "Termination of r-2 requested")
	out = c.fails("instance r-2 TERMINATED: terminated: customer cancelled (Terminated)", "workflow", "wait", "r-2")
	contains(t, out, "TERMINATED")
	c.fails(`instance "nope": not found`, "workflow", "suspend", "nope")
}

func waitStatus(t *testing.T, c *cli, id string, want api.Status) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var inst api.Instance
		c.json(&inst, "workflow", "status", id)
		if inst.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %s, want %s", id, inst.Status, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWorkflowPurge(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	for _, id := range []string{"p-1", "p-2", "p-3"} {
		c.ok("workflow", "run", "Greet", "--input", `"x"`, "--id", id)
	}
	c.fails("", "workflow", "run", "Failing", "--input", `"x"`, "--id", "p-f")
	c.ok("workflow", "start", "Approval", "--input", `"x"`, "--id", "p-run")

	out := c.ok("workflow", "purge", "p-1")
	contains(t, out, "Purged 1 instance.")
	c.fails(`no workflow instance "p-1"`, "workflow", "purge", "p-1")
	c.fails("still running", "workflow", "purge", "p-run")
	c.fails("purge what?", "workflow", "purge")
	c.fails("not both", "workflow", "purge", "p-2", "--all")
	c.fails("not a finished status", "workflow", "purge", "--status", "RUNNING")
	out = c.ok("workflow", "purge", "--status", "COMPLETED", "--older-than", "1h")
	contains(t, out, "Purged 0 instances.")
	var res api.PurgeResult
	c.json(&res, "workflow", "purge", "--status", "COMPLETED", "--name", "Greet")
	if res.Purged != 2 {
		t.Fatalf("purged %d", res.Purged)
	}
	out = c.ok("workflow", "purge", "--all")
	contains(t, out, "Purged 1 instance.")
	c.ok("workflow", "status", "p-run")
}

func TestActivityCommands(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("workflow", "start", "Async", "--input", `"pkt-act"`, "--id", "act-1")
	first := <-servertest.TaskTokens("pkt-act")
	out := c.ok("activity", "heartbeat", first, "--details", `{"sent": 3}`)
	contains(t, out, "Recorded the heartbeat.")
	var p api.Progress
	if err := json.Unmarshal([]byte(mustGet(t, c, "/api/v1/instances/act-1/progress")), &p); err != nil {
		t.Fatal(err)
	}
	if string(p.Pending[0].HeartbeatDetails) != `{"sent":3}` {
		t.Fatalf("heartbeat details %s", p.Pending[0].HeartbeatDetails)
	}
	out = c.ok("activity", "fail", first, "--error", "ack lost", "--type", "AckError", "--details", `{"code":7}`)
	contains(t, out, "Failed the activity attempt.")
	second := <-servertest.TaskTokens("pkt-act")
	c.fails("attempt 1", "activity", "complete", first, "--result", `"late"`)
	var res actionResult
	c.json(&res, "activity", "complete", second, "--result", `"delivered"`)
	if !res.Accepted || res.Action != "complete" {
		t.Fatalf("complete json %+v", res)
	}
	out = c.ok("workflow", "wait", "act-1")
	contains(t, out, `"delivered"`)
	c.fails("malformed activity task token", "activity", "complete", "junk")
	c.fails("--error is required", "activity", "fail", second)
	c.fails("activity task token rejected", "activity", "heartbeat", second)
	c.fails("not a Perdure task token", "activity", "fail", second+"x", "--error", "e")
}

func mustGet(t *testing.T, c *cli, path string) string {
	t.Helper()
	resp, err := c.env.Server.Client().Get(c.env.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}

func TestPendingLines(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.Local)
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	p := &api.Progress{Instance: &api.Instance{InstanceID: "x", Status: "RUNNING"}, Pending: []*api.PendingStep{
		{Kind: api.PendingActivity, Step: 1, Name: "Charge", State: "READY"},
		{Kind: api.PendingActivity, Step: 2, Name: "Charge", State: "READY", Attempt: 2, NextAttemptAt: at(3 * time.Second),
			LastFailure: &api.Failure{Message: "card declined", Type: "CardError"}},
		{Kind: api.PendingActivity, Step: 3, Name: "Ship", State: "RUNNING", Attempt: 3, LastFailure: &api.Failure{Message: "timeout"}},
		{Kind: api.PendingActivity, Step: 4, Name: "Ack", State: "PENDING", Attempt: 1, TaskToken: "TOK"},
		{Kind: api.PendingTimer, Step: 5, FireAt: at(time.Hour)},
		{Kind: api.PendingEvent, Step: 6, Name: "approval", FireAt: at(2 * time.Minute)},
		{Kind: api.PendingChild, Step: 7, Name: "Child", InstanceID: "x:0007"},
		{Kind: api.PendingActivity, Step: 8, Name: "Done"},
	}, BufferedEvents: []*api.BufferedEvent{{Name: "poke"}}}
	want := []string{
		"step 1  activity Charge: waiting for a worker",
		"step 2  activity Charge: attempt 2 failed: card declined (CardError); attempt 3 in 3s",
		"step 3  activity Ship: attempt 3 running; last error: timeout",
		"step 4  activity Ack: attempt 1 waiting for completion by task token: perdure activity complete TOK --result JSON",
		"step 5  timer fires in 1h00m",
		`step 6  waiting for event "approval" (gives up in 2m00s)`,
		"step 7  child workflow Child (instance x:0007)",
		"step 8  activity Done: result received; the workflow continues",
		"events not yet consumed: poke",
	}
	got := pendingLines(p, now, true)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if l := pendingLines(p, now, false)[4]; l != "step 5  timer fires at 13:00:00" {
		t.Fatalf("absolute: %q", l)
	}
	if s := stateLine(&api.Progress{Instance: &api.Instance{Status: "RUNNING"}}); s != "RUNNING: waiting for an event or its next step" {
		t.Fatalf("state %q", s)
	}
	if s := stateLine(&api.Progress{Instance: &api.Instance{Status: "RUNNING", TaskError: "nondeterministic\nstack"}}); !strings.Contains(s, "workflow task fails: nondeterministic …") {
		t.Fatalf("state %q", s)
	}
}

// The live view redraws in place.
func TestLiveView(t *testing.T) {
	var b strings.Builder
	v := &progressView{w: &b, live: true, width: 40}
	created := time.Now().Add(-2 * time.Second)
	p := &api.Progress{Instance: &api.Instance{InstanceID: "x", WorkflowName: "W", Status: "RUNNING", CreatedAt: created,
		CustomStatus: json.RawMessage(`"working on a long, long, long custom status"`)},
		Pending: []*api.PendingStep{{Kind: api.PendingTimer, Step: 1, FireAt: &created}}}
	v.show(p, time.Now())
	v.show(p, time.Now())
	v.done()
	out := b.String()
	if strings.Count(out, "\x1b[3A\x1b[J") != 2 || !strings.Contains(out, "x  W  RUNNING  (2") || !strings.Contains(out, "…") {
		t.Fatalf("live output %q", out)
	}
}
