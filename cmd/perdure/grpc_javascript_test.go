package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	dtapi "github.com/dapr/durabletask-go/api"
	"github.com/dapr/durabletask-go/task"

	"github.com/perdure/perdure/server/api"
)

// npmNetworkError matches what npm prints when it cannot reach the
// registry (or, offline, finds a package missing from its cache).
var npmNetworkError = regexp.MustCompile(`(?i)\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ESOCKETTIMEDOUT|ENETUNREACH|EHOSTUNREACH|ENOTCACHED|EPROTO|ERR_SOCKET_TIMEOUT|UNABLE_TO_GET_ISSUER_CERT|SELF_SIGNED_CERT_IN_CHAIN|CERT_HAS_EXPIRED)\b|npm (ERR!|error) network|request to \S+ failed`)

// TestDurableTaskJavaScriptSDK runs a workflow of the Durable Task
// JavaScript SDK (@dapr/durabletask-js, pinned in
// testdata/durabletask-js/package-lock.json) on a real `perdure server`
// process: the SDK's worker runs a chain of three activities and sets a
// custom status, the SDK's client starts it and waits for it, and Perdure's
// own HTTP APIs show the same result; meanwhile a Go SDK worker of another
// application is connected and its workflows complete too (two languages,
// neither declaring its names). It skips without node and npm, or when npm
// cannot reach the registry.
func TestDurableTaskJavaScriptSDK(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process and installs npm packages")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH: the Durable Task JavaScript SDK test needs Node.js 18 or later")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm is not on PATH: the Durable Task JavaScript SDK test installs @dapr/durabletask-js with it")
	}
	if v, err := exec.Command(node, "--version").Output(); err != nil {
		t.Skipf("node --version: %v", err)
	} else if major, _ := strconv.Atoi(strings.SplitN(strings.TrimPrefix(strings.TrimSpace(string(v)), "v"), ".", 2)[0]); major < 18 {
		t.Skipf("node %s is too old: @dapr/durabletask-js needs Node.js 18 or later", strings.TrimSpace(string(v)))
	}
	proj, err := filepath.Abs(filepath.Join("testdata", "durabletask-js"))
	if err != nil {
		t.Fatal(err)
	}

	// Install the pinned SDK (quick when npm's cache is warm).
	began := time.Now()
	const npmTimeout = 3 * time.Minute
	ictx, icancel := context.WithTimeout(context.Background(), npmTimeout)
	defer icancel()
	// Short retries: an unreachable registry skips the test in seconds.
	install := exec.CommandContext(ictx, npm, "ci", "--prefer-offline", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error",
		"--fetch-retries=1", "--fetch-retry-mintimeout=1000", "--fetch-retry-maxtimeout=5000", "--fetch-timeout=60000")
	install.Dir = proj
	if out, err := install.CombinedOutput(); err != nil {
		switch {
		case ictx.Err() != nil:
			t.Skipf("npm ci did not finish within %v (is the npm registry reachable?):\n%s", npmTimeout, firstLines(out, 8))
		case npmNetworkError.Match(out):
			t.Skipf("npm ci cannot reach the npm registry: %v\n%s", err, firstLines(out, 8))
		default:
			t.Fatalf("npm ci in %s: %v\n%s", proj, err, out)
		}
	}
	t.Logf("npm ci took %v", time.Since(began).Round(time.Millisecond))

	dir := t.TempDir()
	addr, grpcAddr := freeAddr(t), freeAddr(t)
	srv := startServer(t, filepath.Join(dir, "perdure.db"), addr, grpcAddr)

	// A Go worker of another application is connected at the same time,
	// without saying what it serves: each worker is offered the other's
	// workflows, answers that it does not have them, and they go to the
	// other one.
	goReg := task.NewTaskRegistry()
	if err := goReg.AddWorkflowN("GoDouble", func(ctx *task.WorkflowContext) (any, error) {
		var n int
		err := ctx.GetInput(&n)
		return 2 * n, err
	}); err != nil {
		t.Fatal(err)
	}
	gctx, gcancel := context.WithCancel(context.Background())
	defer gcancel()
	if err := dtConnect(t, grpcAddr).StartWorkItemListener(gctx, goReg); err != nil {
		t.Fatal(err)
	}
	goClient := dtConnect(t, grpcAddr)
	var goIDs []dtapi.InstanceID
	for i := range 10 {
		gid, err := goClient.ScheduleNewWorkflow(gctx, "GoDouble", dtapi.WithInput(i))
		if err != nil {
			t.Fatal(err)
		}
		goIDs = append(goIDs, gid)
	}

	// The script runs the SDK's worker and client and prints the result.
	const id, input, want = "js-chain-1", 10, 13
	began = time.Now()
	rctx, rcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer rcancel()
	run := exec.CommandContext(rctx, node, "run.js", grpcAddr, id, strconv.Itoa(input))
	run.Dir = proj
	run.Env = append(run.Environ(), "PERDURE_JS_TIMEOUT_MS=30000")
	var stdout, stderr bytes.Buffer
	run.Stdout, run.Stderr = &stdout, &stderr
	if err := run.Run(); err != nil {
		t.Fatalf("node run.js: %v\nstdout:\n%s\nstderr:\n%s\nserver logs:\n%s", err, stdout.String(), stderr.String(), srv.logs)
	}
	t.Logf("the JavaScript worker and client ran the workflow in %v", time.Since(began).Round(time.Millisecond))
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var res struct {
		InstanceID    string          `json:"instanceId"`
		RuntimeStatus string          `json:"runtimeStatus"`
		Output        json.RawMessage `json:"output"`
		CustomStatus  *string         `json:"customStatus"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("node run.js printed %q: %v\nstderr:\n%s", stdout.String(), err, stderr.String())
	}
	if res.InstanceID != id || res.RuntimeStatus != "COMPLETED" || string(res.Output) != strconv.Itoa(want) ||
		res.CustomStatus == nil || *res.CustomStatus != "added 3" {
		t.Fatalf("the JavaScript client saw %s, want %s COMPLETED with output %d and custom status \"added 3\"\nstderr:\n%s\nserver logs:\n%s",
			lines[len(lines)-1], id, want, stderr.String(), srv.logs)
	}

	// Perdure's native API.
	var inst api.Instance
	do(t, "GET", srv.base+"/api/v1/instances/"+id, "", 200, &inst)
	if inst.Status != "COMPLETED" || inst.WorkflowName != "AddThree" || string(inst.Input) != strconv.Itoa(input) ||
		string(inst.Output) != string(res.Output) || inst.Failure != nil {
		t.Fatalf("GET /api/v1/instances/%s: status %s, workflow %q, input %s, output %s, failure %v; want COMPLETED AddThree %d %s",
			id, inst.Status, inst.WorkflowName, inst.Input, inst.Output, inst.Failure, input, res.Output)
	}
	// The SDK sets the custom status as a plain string, not JSON: the
	// native API shows such bytes as {"$base64": "…"}.
	if cs := nativeString(t, inst.CustomStatus); cs != *res.CustomStatus {
		t.Fatalf("GET /api/v1/instances/%s: custom status %s (%q), want %q", id, inst.CustomStatus, cs, *res.CustomStatus)
	}

	// The Go application's workflows completed too.
	for i, gid := range goIDs {
		wctx, wcancel := context.WithTimeout(gctx, 30*time.Second)
		md, err := goClient.WaitForWorkflowCompletion(wctx, gid)
		wcancel()
		if err != nil || md.GetOutput().GetValue() != strconv.Itoa(2*i) {
			t.Fatalf("the Go worker's workflow %s: %v %v\nserver logs:\n%s", gid, md, err, srv.logs)
		}
	}

	// The Dapr-compatible API.
	st := daprWait(t, srv.base, id, 10*time.Second)
	if st.RuntimeStatus != "COMPLETED" || st.WorkflowName != "AddThree" ||
		st.Properties["dapr.workflow.output"] != string(res.Output) ||
		st.Properties["dapr.workflow.input"] != strconv.Itoa(input) ||
		st.Properties["dapr.workflow.custom_status"] != *res.CustomStatus {
		t.Fatalf("GET /v1.0-beta1/workflows/dapr/%s: %+v", id, st)
	}
}

// nativeString decodes a payload of the native API that holds a string:
// a JSON string, or the {"$base64": "…"} form of bytes that are not JSON.
func nativeString(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var b64 struct {
		Base64 *string `json:"$base64"`
	}
	if err := json.Unmarshal(raw, &b64); err != nil || b64.Base64 == nil {
		t.Fatalf("payload %s is neither a JSON string nor {\"$base64\": …}", raw)
	}
	b, err := base64.StdEncoding.DecodeString(*b64.Base64)
	if err != nil {
		t.Fatalf("payload %s: %v", raw, err)
	}
	return string(b)
}

// firstLines returns the first n lines of out.
func firstLines(out []byte, n int) string {
	lines := strings.SplitN(strings.TrimSpace(string(out)), "\n", n+1)
	if len(lines) > n {
		lines[n] = "…"
	}
	return strings.Join(lines, "\n")
}
