package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/perdure/perdure/server/api"
)

func TestProgressShowsPendingSteps(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.start("Stuck", "", "stuck-1")
	var p *api.Progress
	eventually(t, "the failed first attempt and the child", func() bool {
		p = e.progress("stuck-1")
		if len(p.Pending) != 4 {
			return false
		}
		a := p.Pending[0]
		return a.LastFailure != nil && a.State == "READY" && p.Pending[3].InstanceID != ""
	})
	if p.Schema != api.SchemaProgress || p.Version == "" || p.Instance.Status != "RUNNING" || p.HistoryLength == 0 || p.LastEvent == nil {
		t.Fatalf("progress %+v", p)
	}
	a, tm, ev, ch := p.Pending[0], p.Pending[1], p.Pending[2], p.Pending[3]
	if a.Kind != api.PendingActivity || a.Name != "Broken" || a.Attempt != 1 || a.NextAttemptAt == nil ||
		a.LastFailure.Type != "Unavailable" || a.LastFailure.Message != "the service is down" || !strings.Contains(a.Source, "helpers_test.go:") {
		t.Errorf("activity %+v", a)
	}
	if tm.Kind != api.PendingTimer || tm.FireAt == nil || time.Until(*tm.FireAt) < 50*time.Minute {
		t.Errorf("timer %+v", tm)
	}
	if ev.Kind != api.PendingEvent || ev.Name != "go" || ev.FireAt == nil {
		t.Errorf("event wait %+v", ev)
	}
	if ch.Kind != api.PendingChild || ch.Name != "Approval" || ch.InstanceID == "" {
		t.Errorf("child %+v", ch)
	}
	if a.Step >= tm.Step || tm.Step >= ev.Step || ev.Step >= ch.Step {
		t.Errorf("steps out of order: %d %d %d %d", a.Step, tm.Step, ev.Step, ch.Step)
	}

	// Same version: the long poll waits; a raised event changes it.
	begin := time.Now()
	var same api.Progress
	e.do("GET", "/api/v1/instances/stuck-1/progress?wait=200ms&version="+p.Version, nil).want(t, 200, &same)
	if same.Version != p.Version || time.Since(begin) < 200*time.Millisecond {
		t.Fatalf("unchanged progress answered after %s with version %s (was %s)", time.Since(begin), same.Version, p.Version)
	}
	got := make(chan *api.Progress, 1)
	go func() {
		var next api.Progress
		e.do("GET", "/api/v1/instances/stuck-1/progress?wait=20s&version="+p.Version, nil).want(t, 200, &next)
		got <- &next
	}()
	time.Sleep(100 * time.Millisecond)
	begin = time.Now()
	e.do("POST", "/api/v1/instances/stuck-1/events/go", `"now"`).want(t, http.StatusAccepted, nil)
	next := <-got
	if next.Version == p.Version || time.Since(begin) > 5*time.Second {
		t.Fatalf("changed progress: version %s after %s", next.Version, time.Since(begin))
	}
	eventually(t, "the event wait to end", func() bool {
		for _, s := range e.progress("stuck-1").Pending {
			if s.Kind == api.PendingEvent {
				return false
			}
		}
		return true
	})
	e.do("GET", "/api/v1/instances/stuck-1/progress?wait=bad", nil).wantError(t, 400, api.CodeInvalidArgument)
	e.do("POST", "/api/v1/instances/stuck-1/terminate", nil).want(t, http.StatusAccepted, nil)
	e.waitDone("stuck-1")
	if done := e.progress("stuck-1"); len(done.Pending) != 0 && done.Instance.Status != "TERMINATED" {
		t.Fatalf("after terminate %+v", done)
	}
}

func TestActivityCompletionByToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.start("Async", "pkt-complete", "async-1")
	tok := <-tokenChan("pkt-complete")
	// Progress shows the pending attempt and its token.
	var p *api.Progress
	eventually(t, "a PENDING activity", func() bool {
		p = e.progress("async-1")
		return len(p.Pending) == 1 && p.Pending[0].State == "PENDING"
	})
	if p.Pending[0].TaskToken != tok || p.Pending[0].Attempt != 1 || p.Pending[0].Deadline == nil {
		t.Fatalf("pending activity %+v, token %s", p.Pending[0], tok)
	}
	e.do("POST", "/api/v1/activities/heartbeat", api.HeartbeatActivityRequest{TaskToken: tok, Details: []byte(`{"sent": 3}`)}).
		want(t, http.StatusAccepted, nil)
	eventually(t, "heartbeat details", func() bool {
		return string(e.progress("async-1").Pending[0].HeartbeatDetails) == `{"sent":3}`
	})
	e.do("POST", "/api/v1/activities/complete", api.CompleteActivityRequest{TaskToken: tok, Result: []byte(`"delivered"`)}).
		want(t, http.StatusAccepted, nil)
	if done := e.waitDone("async-1"); string(done.Output) != `"delivered"` {
		t.Fatalf("output %s", done.Output)
	}
	e.do("POST", "/api/v1/activities/complete", api.CompleteActivityRequest{TaskToken: tok, Result: []byte(`"again"`)}).
		wantError(t, http.StatusConflict, api.CodeTokenRejected, "already finished")
	e.do("POST", "/api/v1/activities/heartbeat", api.HeartbeatActivityRequest{TaskToken: tok}).
		wantError(t, http.StatusConflict, api.CodeTokenRejected)
}

func TestActivityFailByToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.start("Async", "pkt-fail", "async-2")
	first := <-tokenChan("pkt-fail")
	e.do("POST", "/api/v1/activities/fail", `{"taskToken":"`+first+`","error":{"message":"ack lost","type":"AckError"}}`).
		want(t, http.StatusAccepted, nil)
	second := <-tokenChan("pkt-fail") // the retry
	if second == first {
		t.Fatal("the retry reused the token")
	}
	e.do("POST", "/api/v1/activities/complete", api.CompleteActivityRequest{TaskToken: first}).
		wantError(t, http.StatusConflict, api.CodeTokenRejected, "attempt 1")
	e.do("POST", "/api/v1/activities/fail", api.FailActivityRequest{TaskToken: second,
		Error: api.ActivityError{Message: "rejected for good", Type: "Rejected", NonRetryable: true, Details: []byte(`{"code": 7}`)}}).
		want(t, http.StatusAccepted, nil)
	done := e.waitDone("async-2")
	f := done.Failure
	if done.Status != "FAILED" || f == nil || f.Type != "ActivityError" || f.Attempts != 2 || f.Cause == nil ||
		f.Cause.Type != "Rejected" || f.Cause.Message != "rejected for good" || string(f.Cause.Details) != `{"code":7}` {
		t.Fatalf("failure %+v cause %+v", f, f.Cause)
	}
}
