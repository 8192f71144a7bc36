package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/perdure/perdure/httpclient"
	"github.com/perdure/perdure/server/api"
)

// TestMain lets the test binary act as the perdure command, so that the
// end-to-end test runs `perdure dev` as a real process without a build step.
func TestMain(m *testing.M) {
	if os.Getenv("PERDURE_E2E_AS_CLI") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// devProcess is a `perdure dev` child process.
type devProcess struct {
	t      *testing.T
	cmd    *exec.Cmd
	logs   *lockedBuffer
	base   string
	exited chan error
	once   sync.Once
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startDev(t *testing.T, storePath, addr string) *devProcess {
	t.Helper()
	p := spawn(t, "dev", "--store", storePath, "--addr", addr, "--grpc-addr", "127.0.0.1:0", "--shutdown-grace", "2s")
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case err := <-p.exited:
			t.Fatalf("perdure dev exited early (%v):\n%s", err, p.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("perdure dev did not become healthy:\n%s", p.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// spawn starts the perdure command with args as a child process, killed
// when the test ends; it does not wait for it to be ready.
func spawn(t *testing.T, args ...string) *devProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "PERDURE_E2E_AS_CLI=1")
	p := &devProcess{t: t, cmd: cmd, logs: &lockedBuffer{}, exited: make(chan error, 1)}
	for i, a := range args {
		if a == "--addr" && i+1 < len(args) {
			p.base = "http://" + args[i+1]
		}
	}
	cmd.Stdout = p.logs
	cmd.Stderr = p.logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start perdure %s: %v", args[0], err)
	}
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *devProcess) kill() {
	p.once.Do(func() {
		_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
		}
	})
}

// do sends a request and decodes a JSON answer into out (when non-nil).
func do(t *testing.T, method, url, body string, wantStatus int, out any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s: status %d, want %d: %s", method, url, resp.StatusCode, wantStatus, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, url, data, err)
		}
	}
}

type daprStatus struct {
	InstanceID    string            `json:"instanceID"`
	WorkflowName  string            `json:"workflowName"`
	RuntimeStatus string            `json:"runtimeStatus"`
	Properties    map[string]string `json:"properties"`
}

// daprWait polls the Dapr-compatible status URL, the way the seeds' clients do.
func daprWait(t *testing.T, base, id string, timeout time.Duration) daprStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var st daprStatus
		do(t, "GET", base+"/v1.0-beta1/workflows/dapr/"+id, "", 200, &st)
		switch st.RuntimeStatus {
		case "COMPLETED", "FAILED", "TERMINATED":
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still %s after %v", id, st.RuntimeStatus, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runCLI runs the perdure command in-process and returns its stdout.
func runCLI(t *testing.T, args ...string) string {
	t.Helper()
	root := newRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		t.Fatalf("perdure %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String()
}

func TestEndToEndDev(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test with a real perdure dev process")
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	dev := startDev(t, filepath.Join(dir, "dev.db"), addr)
	base := dev.base
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	t.Run("dapr-api", func(t *testing.T) {
		var started map[string]string
		do(t, "POST", base+"/v1.0-beta1/workflows/dapr/OrderProcessingWorkflow/start?instanceID=12345678",
			`{"Name":"Paperclips","Quantity":1,"TotalCost":9.95}`, 202, &started)
		if started["instanceID"] != "12345678" {
			t.Fatalf("start answered %v", started)
		}
		do(t, "POST", base+"/v1.0/workflows/dapr/TaskChainWorkflow/start?instanceID=chain-e2e", `1`, 202, nil)
		do(t, "POST", base+"/v1.0-alpha1/workflows/anycomponent/ResiliencyAndCompensationWorkflow/start?instanceID=res-1", `1`, 202, nil)
		do(t, "POST", base+"/v1.0-beta1/workflows/dapr/ResiliencyAndCompensationWorkflow/start?instanceID=res-5", `5`, 202, nil)
		do(t, "POST", base+"/v1.0-beta1/workflows/dapr/PurchaseOrderWorkflow/start?instanceID=po-1",
			`{"cost":2500,"product":"Laptop","quantity":1,"approval_timeout_s":86400}`, 202, nil)

		if st := daprWait(t, base, "chain-e2e", 20*time.Second); st.Properties["dapr.workflow.output"] != "[2,4,6]" {
			t.Fatalf("task chain: %+v", st)
		}
		st := daprWait(t, base, "12345678", 30*time.Second)
		if st.WorkflowName != "OrderProcessingWorkflow" || st.Properties["dapr.workflow.output"] != `{"Processed":true}` ||
			st.Properties["dapr.workflow.input"] != `{"Name":"Paperclips","Quantity":1,"TotalCost":9.95}` {
			t.Fatalf("order processing: %+v", st)
		}
		st = daprWait(t, base, "res-1", 30*time.Second)
		if st.Properties["dapr.workflow.output"] != "1" ||
			st.Properties["dapr.workflow.custom_status"] != `"Compensated minus_one activity with plus_one activity."` {
			t.Fatalf("resiliency(1): %+v", st)
		}
		if st := daprWait(t, base, "res-5", 30*time.Second); st.Properties["dapr.workflow.output"] != "25" {
			t.Fatalf("resiliency(5): %+v", st)
		}
		logs := dev.logs.String()
		for _, line := range []string{"minus_one: Received input: 1.", "division: Received divisor: 0.", "plus_one: Received input: 0."} {
			if !strings.Contains(logs, line) {
				t.Fatalf("logs lack %q", line)
			}
		}
		if n := strings.Count(logs, "division: Received divisor: 0."); n != 3 {
			t.Fatalf("division ran %d times, want 3 attempts", n)
		}
		// Human approval through the Dapr raiseEvent route.
		do(t, "POST", base+"/v1.0-beta1/workflows/dapr/po-1/raiseEvent/approval_received", `{"approver":"Jane Doe"}`, 202, nil)
		if st := daprWait(t, base, "po-1", 20*time.Second); st.Properties["dapr.workflow.output"] != `"Approved by 'Jane Doe'"` {
			t.Fatalf("purchase order: %+v", st)
		}
		// Bad input never creates an instance.
		do(t, "POST", base+"/v1.0-beta1/workflows/dapr/NoSuchWorkflow/start?instanceID=x1", `1`, 400, nil)
		do(t, "GET", base+"/v1.0-beta1/workflows/dapr/does-not-exist", "", 404, nil)
		do(t, "POST", base+"/v1.0-beta1/workflows/dapr/TaskChainWorkflow/start?instanceID=bad", `{not json`, 400, nil)
		do(t, "POST", base+"/v1.0-beta1/workflows/dapr/TaskChainWorkflow/start?instanceID=bad", `"one"`, 400, nil)
		do(t, "GET", base+"/v1.0-beta1/workflows/dapr/bad", "", 404, nil)
	})

	t.Run("native-api", func(t *testing.T) {
		c, err := httpclient.New(base)
		if err != nil {
			t.Fatal(err)
		}
		start := func(name, id, input string) {
			t.Helper()
			if _, err := c.Start(ctx, api.StartRequest{WorkflowName: name, InstanceID: id, Input: json.RawMessage(input)}, httpclient.StartOptions{}); err != nil {
				t.Fatalf("start %s: %v", name, err)
			}
		}
		start("BookingSagaWorkflow", "trip-forward", `{"car":"Hertz","hotel":"Hilton","flight":"Alaska Airlines 123","flight_failures":2}`)
		start("BookingSagaWorkflow", "trip-backward", `{"car":"Hertz","hotel":"Hilton","flight":"invalid"}`)
		start("DataRoutingWorkflow", "route-e2e", `{"Packet":{"ID":"p1","Source":"+017771110000","Destination":"+016660002222","Contents":"SGVsbG8="},"ErrorChance":0,"CallbackChance":100,"MaxCallbackDelaySeconds":1,"FailRoutes":["RouteA","RouteB","RouteC"]}`)
		start("SubscriptionWorkflow", "sub-e2e", `{"user_id":"Sam Beckett","credit_card":"1234-5678-9012-3456","subscriptions":["Netflix","Disney+","HBO Max"],"failure_rate":0.3}`)
		start("MonitorWorkflow", "monitor-e2e", `{"job_id":"job-1","healthy_interval_s":0.05,"unhealthy_interval_s":0.05,"max_cycles":3}`)

		wait := func(id string) *api.Instance {
			t.Helper()
			inst, err := c.WaitForCompletion(ctx, id)
			if err != nil {
				t.Fatalf("wait %s: %v", id, err)
			}
			return inst
		}
		if inst := wait("trip-forward"); inst.Status != "COMPLETED" || !strings.Contains(string(inst.Output), `"flight":"FLIGHT-`) {
			t.Fatalf("saga forward: %s %s", inst.Status, inst.Output)
		}
		inst := wait("trip-backward")
		if inst.Status != "FAILED" || inst.Failure == nil || !strings.Contains(inst.Failure.Message, "Invalid flight booking, rolling back!") {
			t.Fatalf("saga backward: %+v", inst)
		}
		logs := dev.logs.String()
		iFlight, iHotel, iCar := strings.Index(logs, "undo_book_flight"), strings.Index(logs, "undo_book_hotel"), strings.Index(logs, "undo_book_car")
		if iFlight < 0 || iHotel < iFlight || iCar < iHotel {
			t.Fatalf("compensations not in reverse order (flight %d, hotel %d, car %d)", iFlight, iHotel, iCar)
		}
		inst = wait("route-e2e")
		var routed struct {
			Packet struct {
				FailedRouteProviders []string
				CurrentRouteProvider string
				Status               string
			}
		}
		if err := json.Unmarshal(inst.Output, &routed); err != nil {
			t.Fatal(err)
		}
		if routed.Packet.Status != "STATUS_DELIVERED" || routed.Packet.CurrentRouteProvider != "RouteD" ||
			strings.Join(routed.Packet.FailedRouteProviders, ",") != "RouteA,RouteB,RouteC" {
			t.Fatalf("data routing: %s", inst.Output)
		}
		if inst := wait("sub-e2e"); inst.Status != "COMPLETED" || !strings.Contains(string(inst.Output), "payment_ref") {
			t.Fatalf("subscription: %s %s", inst.Status, inst.Output)
		}
		if inst := wait("monitor-e2e"); inst.Status != "COMPLETED" || !strings.Contains(string(inst.Output), `"cycles":3`) {
			t.Fatalf("monitor: %s %s", inst.Status, inst.Output)
		}
	})

	t.Run("cli", func(t *testing.T) {
		out := runCLI(t, "workflow", "run", "TaskChainWorkflow", "--input", "1", "--id", "cli-chain", "--address", base, "--output", "json")
		var inst api.Instance
		if err := json.Unmarshal([]byte(lastJSON(out)), &inst); err != nil {
			t.Fatalf("run --output json printed %q: %v", out, err)
		}
		var compact bytes.Buffer
		_ = json.Compact(&compact, inst.Output)
		if inst.Status != "COMPLETED" || compact.String() != "[2,4,6]" {
			t.Fatalf("cli run: %s %s", inst.Status, inst.Output)
		}
		runCLI(t, "workflow", "start", "PurchaseOrderWorkflow", "--id", "cli-po", "--input", `{"cost":5000,"product":"Server","quantity":1}`, "--address", base)
		waitFor(t, func() bool {
			return strings.Contains(runCLI(t, "workflow", "status", "cli-po", "--address", base), "RUNNING")
		})
		runCLI(t, "workflow", "raise", "cli-po", "approval_received", "--data", `{"approver":"Jane Doe"}`, "--address", base)
		runCLI(t, "workflow", "wait", "cli-po", "--address", base)
		status := runCLI(t, "workflow", "status", "cli-po", "--address", base, "--output", "json")
		if !strings.Contains(status, `Approved by 'Jane Doe'`) {
			t.Fatalf("status after approval: %s", status)
		}
		if list := runCLI(t, "workflow", "list", "--address", base, "--name", "PurchaseOrderWorkflow"); !strings.Contains(list, "cli-po") {
			t.Fatalf("list lacks cli-po:\n%s", list)
		}
		hist := runCLI(t, "workflow", "history", "cli-po", "--address", base, "--output", "json")
		if !strings.Contains(hist, `"ExecutionStarted"`) || !strings.Contains(hist, `"EventRaised"`) {
			t.Fatalf("history export:\n%s", hist)
		}
	})

	t.Run("sigkill-during-fan-out", func(t *testing.T) {
		do(t, "POST", base+"/v1.0-beta1/workflows/dapr/FanOutFanInWorkflow/start?instanceID=fan-kill",
			`{"items":100,"work_ms":100,"max_parallel":10}`, 202, nil)
		waitFor(t, func() bool { return strings.Count(dev.logs.String(), "Processing work item:") >= 25 })
		dev.kill()
		before := dev.logs.String()
		dev2 := startDev(t, filepath.Join(dir, "dev.db"), addr)
		st := daprWait(t, base, "fan-kill", 60*time.Second)
		if st.RuntimeStatus != "COMPLETED" || st.Properties["dapr.workflow.output"] != "10100" {
			t.Fatalf("fan-out after SIGKILL: %+v", st)
		}
		first, second := workItems(before), workItems(dev2.logs.String())
		twice := 0
		for item := range second {
			if first[item] {
				twice++
			}
		}
		// Every rerun is explained by an attempt the kill cut short, which
		// the history records as lost; at most max_parallel were in flight.
		c, err := httpclient.New(base)
		if err != nil {
			t.Fatal(err)
		}
		h, err := c.History(ctx, "fan-kill", httpclient.HistoryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		lost := 0
		for _, ev := range h.Events {
			if ev.Type != "TaskCompleted" || ev.Name != "process_work_item" {
				continue
			}
			for _, a := range ev.Attempts {
				if a.Failure != nil && a.Failure.Type == "WorkerLost" {
					lost++
				}
			}
		}
		if len(first)+len(second)-twice != 100 || twice > lost || lost > 10 {
			t.Fatalf("items before the kill %d, after %d, run twice %d, lost attempts %d (at most 10 in flight)",
				len(first), len(second), twice, lost)
		}
		// Ctrl-C: a graceful stop that exits 0.
		if err := dev2.cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-dev2.exited:
			if err != nil || !strings.Contains(dev2.logs.String(), "unfinished workflows continue when perdure starts again") {
				t.Fatalf("SIGINT: exit %v\n%s", err, dev2.logs)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("perdure dev did not stop on SIGINT")
		}
		t.Logf("fan-out: %d items before the kill, %d after, %d run twice", len(first), len(second), twice)
	})
}

var itemRe = regexp.MustCompile(`Processing work item: (\d+)\.`)

func workItems(logs string) map[int]bool {
	return matchItems(itemRe, logs)
}

func matchItems(re *regexp.Regexp, logs string) map[int]bool {
	out := map[int]bool{}
	for _, m := range re.FindAllStringSubmatch(logs, -1) {
		var n int
		fmt.Sscan(m[1], &n)
		out[n] = true
	}
	return out
}

func lastJSON(out string) string {
	if i := strings.Index(out, "{"); i >= 0 {
		return out[i:]
	}
	return out
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
