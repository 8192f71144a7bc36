package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/perdure/perdure/server/api"
	"github.com/perdure/perdure/server/servertest"
)

// cli runs the perdure command in-process against a test server.
type cli struct {
	t   *testing.T
	env *servertest.Env
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	return &cli{t: t, env: servertest.Start(t)}
}

// run executes perdure with args (and --address) and returns its stdout.
func (c *cli) run(stdin string, args ...string) (string, error) {
	root := newRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(append(args, "--address", c.env.URL))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

// ok runs a command that must succeed.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	out, err := c.run("", args...)
	if err != nil {
		c.t.Fatalf("perdure %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// fails runs a command that must fail with an error containing want.
func (c *cli) fails(want string, args ...string) string {
	c.t.Helper()
	out, err := c.run("", args...)
	if err == nil || !strings.Contains(err.Error(), want) {
		c.t.Fatalf("perdure %s: error %v, want one containing %q\n%s", strings.Join(args, " "), err, want, out)
	}
	return out
}

func (c *cli) json(v any, args ...string) {
	c.t.Helper()
	out := c.ok(append(args, "--output", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("perdure %s --output json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func contains(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Fatalf("output does not contain %q:\n%s", w, out)
		}
	}
}

func TestWorkflowStartStatusWait(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	out := c.ok("workflow", "start", "Greet", "--input", `"Ada"`, "--id", "g-1")
	contains(t, out, "Started g-1 (workflow Greet, run ", "perdure workflow wait g-1")

	out = c.ok("workflow", "wait", "g-1")
	contains(t, out, "g-1 COMPLETED", "Status", "COMPLETED", `"Hello, Ada"`)

	var inst api.Instance
	c.json(&inst, "workflow", "status", "g-1")
	if inst.Schema != api.SchemaInstance || inst.Status != "COMPLETED" || string(inst.Output) != `"Hello, Ada"` {
		t.Fatalf("status json %+v", inst)
	}
	out = c.ok("workflow", "status", "g-1")
	contains(t, out, "Instance", "g-1", "Workflow", "Greet", "Output", `"Hello, Ada"`, "took")
	out = c.ok("workflow", "status", "g-1", "--run-id", inst.RunID)
	contains(t, out, inst.RunID)

	// An identical start returns the running instance; JSON output.
	c.ok("workflow", "start", "Approval", "--input", `"desk"`, "--id", "ap-1")
	out = c.ok("workflow", "start", "Approval", "--input", `"desk"`, "--id", "ap-1")
	contains(t, out, "ap-1 is already ", " with the same input; nothing new was started")
	c.json(&inst, "workflow", "start", "Approval", "--input", "-", "--id", "ap-2")
	if inst.InstanceID != "ap-2" || !api.IsNull(inst.Input) {
		t.Fatalf("start json %+v", inst)
	}
	// Status of a running instance shows what it waits on.
	waitStatus(t, c, "ap-1", "RUNNING")
	out = c.ok("workflow", "status", "ap-1")
	contains(t, out, `Custom status  "waiting for approval of desk"`, `waiting for event "approval" (gives up at `)

	// Errors: the server's message, bad JSON, a conflicting start.
	c.fails(`no workflow instance "nope"`, "workflow", "status", "nope")
	c.fails("--input is not valid JSON", "workflow", "start", "Greet", "--input", "Ada")
	c.fails("already running with a different workflow or input", "workflow", "start", "Approval", "--input", `"chair"`, "--id", "ap-1")
	c.fails(`workflow "Gret" is not registered: the registered workflows are Approval, Async, Failing, Flaky, Greet`, "workflow", "start", "Gret")
	c.fails("needs 1 argument(s), NAME", "workflow", "start")
	c.fails(`--output "yaml": use text or json`, "workflow", "list", "--output", "yaml")
}

func TestWorkflowStartInputFromFileAndStdin(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	path := filepath.Join(t.TempDir(), "in.json")
	if err := os.WriteFile(path, []byte(" \"File\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var inst api.Instance
	c.json(&inst, "workflow", "run", "Greet", "--input", "@"+path)
	if string(inst.Output) != `"Hello, File"` {
		t.Fatalf("from file: %+v", inst)
	}
	out, err := c.run(`"Stdin"`, "workflow", "run", "Greet", "--input", "-", "--output", "json")
	if err != nil || !strings.Contains(out, `"output": "Hello, Stdin"`) {
		t.Fatalf("from stdin: %v\n%s", err, out)
	}
	c.fails("no such file", "workflow", "start", "Greet", "--input", "@"+path+".missing")
}

func TestWorkflowRun(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	out := c.ok("workflow", "run", "Flaky", "--input", "2", "--id", "fl-1")
	contains(t, out, "Started fl-1 (workflow Flaky).", "fl-1 COMPLETED", "Output", "3")

	// A failed instance: its failure on the screen, exit status 1.
	out = c.fails(`instance fail-1 FAILED: out of stock (OrderError)`, "workflow", "run", "Failing", "--input", `"out of stock"`, "--id", "fail-1")
	contains(t, out, "Failure", "out of stock (OrderError)")
	var inst api.Instance
	out, err := c.run("", "workflow", "run", "Failing", "--input", `"x"`, "--output", "json")
	if err == nil || json.Unmarshal([]byte(out), &inst) != nil || inst.Status != "FAILED" || inst.Failure.Type != "OrderError" {
		t.Fatalf("run json of a failure: %v\n%s", err, out)
	}

	// Waiting with a timeout on an instance that waits for an event.
	c.ok("workflow", "start", "Approval", "--input", `"lamp"`, "--id", "ap-t")
	out = c.fails("the wait timed out after 300ms; ap-t is still RUNNING and keeps running: perdure workflow wait ap-t",
		"workflow", "wait", "ap-t", "--timeout", "300ms")
	contains(t, out, `ap-t RUNNING; step 1  waiting for event "approval"`, "Status")
	out, err = c.run("", "workflow", "wait", "ap-t", "--timeout", "200ms", "--output", "json")
	if err == nil || !strings.Contains(out, `"status": "RUNNING"`) {
		t.Fatalf("wait json timeout: %v\n%s", err, out)
	}
}

// The plain progress of wait shows the activity attempts, the task token
// and the result.
func TestWorkflowWaitShowsProgress(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("workflow", "start", "Async", "--input", `"pkt-cli"`, "--id", "as-1")
	first := <-servertest.TaskTokens("pkt-cli")
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := c.run("", "workflow", "wait", "as-1")
		done <- result{out, err}
	}()
	time.Sleep(300 * time.Millisecond)
	c.ok("activity", "fail", first, "--error", "lost", "--type", "Lost")
	second := <-servertest.TaskTokens("pkt-cli")
	time.Sleep(300 * time.Millisecond)
	c.ok("activity", "complete", second, "--result", `"sent"`)
	res := <-done
	if res.err != nil {
		t.Fatalf("wait: %v\n%s", res.err, res.out)
	}
	contains(t, res.out, "as-1 RUNNING; step 1  activity Transmit: attempt 1 waiting for completion by task token: perdure activity complete "+first,
		"attempt 2 waiting for completion by task token: perdure activity complete "+second,
		"as-1 COMPLETED", "Output", `"sent"`)
}

func TestWorkflowListAndHistory(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	for _, id := range []string{"l-1", "l-2", "l-3"} {
		c.ok("workflow", "run", "Greet", "--input", `"`+id+`"`, "--id", id)
	}
	c.ok("workflow", "start", "Approval", "--input", `"x"`, "--id", "other")
	out := c.ok("workflow", "list")
	contains(t, out, "INSTANCE ID", "WORKFLOW", "STATUS", "CREATED", "l-1", "l-3", "other", "COMPLETED")
	out = c.ok("workflow", "list", "--status", "completed", "--name", "Greet", "--limit", "2", "--created-after", "1h")
	contains(t, out, "l-3", "l-2", "More instances: add --page-token ")
	token := strings.TrimSpace(out[strings.LastIndex(out, "--page-token ")+len("--page-token "):])
	out = c.ok("workflow", "list", "--status", "COMPLETED", "--name", "Greet", "--limit", "2", "--page-token", token)
	if !strings.Contains(out, "l-1") || strings.Contains(out, "l-2") || strings.Contains(out, "More instances") {
		t.Fatalf("second page:\n%s", out)
	}
	var list api.InstanceList
	c.json(&list, "workflow", "list", "--id-prefix", "l-", "--status", "RUNNING,COMPLETED")
	if list.Schema != api.SchemaInstanceList || len(list.Instances) != 3 {
		t.Fatalf("list json %+v", list)
	}
	out = c.ok("workflow", "list", "--status", "FAILED")
	contains(t, out, "No instances match.")
	c.fails("RUNNING", "workflow", "list", "--status", "DONE")
	c.fails("--limit 0", "workflow", "list", "--limit", "0")
	c.fails("--created-after \"yesterday\"", "workflow", "list", "--created-after", "yesterday")

	out = c.ok("workflow", "history", "l-1")
	contains(t, out, "l-1 (workflow Greet, run", "COMPLETED", "ExecutionStarted", "TaskScheduled", "Hello, input \"l-1\"", "TaskCompleted", `result "Hello, l-1"`)

	// The JSON export is the server's perdure.history/v1 document.
	exported := c.ok("workflow", "history", "l-1", "--output", "json")
	resp, err := c.env.Server.Client().Get(c.env.URL + "/api/v1/instances/l-1/history")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	served, _ := io.ReadAll(resp.Body)
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(exported)); err != nil {
		t.Fatal(err)
	}
	if compact.String()+"\n" != string(served) {
		t.Fatalf("export differs from the server's document:\n%s\n%s", compact.String(), served)
	}
	c.fails(`no workflow instance "zzz"`, "workflow", "history", "zzz")
}

// Every command has help with examples.
func TestHelpHasExamples(t *testing.T) {
	var walk func(cmd *cobra.Command)
	seen := 0
	walk = func(cmd *cobra.Command) {
		if cmd.Name() == "workflow" || cmd.Name() == "activity" || (cmd.Parent() != nil && (cmd.Parent().Name() == "workflow" || cmd.Parent().Name() == "activity")) {
			seen++
			if cmd.Example == "" || cmd.Short == "" {
				t.Errorf("%s has no example or short help", cmd.CommandPath())
			}
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(newRoot())
	if seen != 16 {
		t.Fatalf("%d client commands, want 16", seen)
	}
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"workflow", "purge", "--help"})
	if err := root.Execute(); err != nil || !strings.Contains(out.String(), "perdure workflow purge --status COMPLETED --older-than 24h") {
		t.Fatalf("help: %v\n%s", err, out.String())
	}
}

func TestNoServer(t *testing.T) {
	t.Parallel()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"workflow", "list", "--address", "http://127.0.0.1:1"})
	err := root.Execute()
	if err == nil || !strings.Contains(err.Error(), "cannot reach the Perdure server at http://127.0.0.1:1") ||
		!strings.Contains(err.Error(), "perdure dev") {
		t.Fatalf("no server: %v", err)
	}
	root = newRoot()
	root.SetArgs([]string{"workflow", "list", "--address", "ftp://x"})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "not an http(s) URL") {
		t.Fatalf("bad address: %v", err)
	}
}
