package perduretest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/httpclient"
	"github.com/perdure/perdure/perduretest"
	"github.com/perdure/perdure/server/servertest"
)

// The history the server serves, fetched over HTTP, replays, and
// ExportHistory builds the same document.
func TestReplayHistoryServedByTheServer(t *testing.T) {
	env := servertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, s := range []struct {
		id, wf string
		in     any
	}{{"greet-1", "Greet", "Ann"}, {"flaky-1", "Flaky", 2}, {"failing-1", "Failing", "no stock"}, {"approval-1", "Approval", "laptop"}} {
		if _, err := env.Client.StartWorkflow(ctx, s.wf, s.in, perdure.StartOptions{InstanceID: s.id}); err != nil {
			t.Fatal(err)
		}
	}
	if err := env.Client.RaiseEvent(ctx, "approval-1", "approval", "Bob"); err != nil {
		t.Fatal(err)
	}
	c, err := httpclient.New(env.URL)
	if err != nil {
		t.Fatal(err)
	}
	r := perduretest.NewReplayer()
	if err := servertest.Register(r.Worker()); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"greet-1", "flaky-1", "failing-1", "approval-1"} {
		if _, err := env.Client.WaitForCompletion(ctx, id); err != nil {
			t.Fatal(err)
		}
		h, err := c.History(ctx, id, httpclient.HistoryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.ReplayHistory(h); err != nil {
			t.Fatalf("%s: %v", id, err)
		}

		res, err := http.Get(env.URL + "/api/v1/instances/" + id + "/history")
		if err != nil {
			t.Fatal(err)
		}
		served, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		exported, err := perduretest.ExportHistory(ctx, env.Client, id, "")
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(exported)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(append(b, '\n'), served) {
			t.Fatalf("%s: ExportHistory gives\n%s\nthe server serves\n%s", id, b, served)
		}
		// What the CLI prints (the document fetched, printed indented) is
		// what WriteHistoryFile writes.
		cli, err := perduretest.MarshalHistory(h)
		if err != nil {
			t.Fatal(err)
		}
		if file, _ := perduretest.MarshalHistory(exported); !bytes.Equal(cli, file) {
			t.Fatalf("%s: the CLI prints\n%s\nWriteHistoryFile writes\n%s", id, cli, file)
		}
		if err := r.ReplayJSON(served); err != nil {
			t.Fatalf("%s as served: %v", id, err)
		}
	}
}
