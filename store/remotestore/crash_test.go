package remotestore_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/server"
	"github.com/perdure/perdure/store/sqlitestore"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// The crash test runs remote workers as processes of their own: the test
// binary, started again with these variables set, is a worker.
const (
	envWorkerURL = "PERDURE_TEST_REMOTE_WORKER_URL"
	envWorkerDir = "PERDURE_TEST_REMOTE_WORKER_DIR"
)

func TestMain(m *testing.M) {
	if url := os.Getenv(envWorkerURL); url != "" {
		if err := runCrashWorker(url, os.Getenv(envWorkerDir)); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// CrashWorkflow prepares, then blocks in an activity, then answers which
// process finished it.
func CrashWorkflow(ctx workflow.Context, name string) (string, error) {
	ctx = workflow.WithRetryPolicy(ctx, workflow.RetryPolicy{InitialInterval: 100 * time.Millisecond, MaximumAttempts: 5})
	prepared, err := workflow.ExecuteActivityByName[string](ctx, "Prepare", name).Get(ctx)
	if err != nil {
		return "", err
	}
	return workflow.ExecuteActivityByName[string](ctx, "Block", prepared).Get(ctx)
}

// runCrashWorker is a remote worker process. Its activity Block writes
// dir/started-<pid> and returns only once dir/release exists.
func runCrashWorker(url, dir string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	c, err := perdure.Connect(ctx, url, perdure.Options{LeaseDuration: time.Second, Logger: quiet()})
	if err != nil {
		return err
	}
	defer c.Close()
	w := worker.New(c, worker.Options{})
	pid := os.Getpid()
	if err := worker.RegisterWorkflow(w, CrashWorkflow); err != nil {
		return err
	}
	if err := worker.RegisterActivityAs(w, "Prepare", func(_ context.Context, name string) (string, error) {
		return name + " prepared", nil
	}); err != nil {
		return err
	}
	if err := worker.RegisterActivityAs(w, "Block", func(ctx context.Context, in string) (string, error) {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("started-%d", pid)), nil, 0o644); err != nil {
			return "", err
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "release")); err == nil {
				return fmt.Sprintf("%s, finished by %d", in, pid), nil
			}
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
		}
	}); err != nil {
		return err
	}
	return w.Run(ctx)
}

// startWorker starts a worker process.
func startWorker(t *testing.T, url, dir string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), envWorkerURL+"="+url, envWorkerDir+"="+dir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// waitFile waits until path exists.
func waitFile(t *testing.T, path string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %v", path, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A remote worker killed with SIGKILL in the middle of an activity loses
// nothing: its lease expires, a new worker process takes the attempt over
// (recorded as lost), and the workflow completes with the right result.
func TestRemoteWorkerCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	dir := t.TempDir()
	st, err := sqlitestore.Open(filepath.Join(dir, "perdure.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := perdure.NewClient(perdure.Options{Store: st, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h, err := server.New(server.Config{Client: c, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(h)
	ts.Config.RegisterOnShutdown(h.Shutdown)
	ts.Start()
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	first := startWorker(t, ts.URL, dir)
	id, err := c.StartWorkflow(ctx, "CrashWorkflow", "order-7", perdure.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFile(t, filepath.Join(dir, fmt.Sprintf("started-%d", first.Process.Pid)), 20*time.Second)
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	killed := time.Now()
	if err := os.WriteFile(filepath.Join(dir, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	second := startWorker(t, ts.URL, dir)
	inst, err := c.WaitForCompletion(ctx, id)
	if err != nil {
		t.Fatalf("the workflow did not complete after the worker was killed: %v", err)
	}
	t.Logf("completed %v after the kill", time.Since(killed).Round(time.Millisecond))
	var out string
	if err := inst.DecodeOutput(&out); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("order-7 prepared, finished by %d", second.Process.Pid)
	if inst.Status != perdure.StatusCompleted || out != want {
		t.Fatalf("got %s %q, want COMPLETED %q", inst.Status, out, want)
	}
	events, err := c.History(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	var attempts []string
	for _, ev := range events {
		if ev.Type == "TaskCompleted" && ev.Name == "Block" {
			for _, a := range ev.Attempts {
				s := fmt.Sprint(a.Attempt)
				if a.Failure != nil {
					s += ":" + a.Failure.Type
				}
				attempts = append(attempts, s)
			}
		}
	}
	if got := strings.Join(attempts, " "); got != "1:WorkerLost 2" {
		t.Errorf("attempts of Block: %q, want the lost attempt then the one that completed", got)
	}

	// The second worker stops gracefully.
	if err := second.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := second.Wait(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatal(err)
		}
		t.Errorf("the second worker exited with %v", err)
	}
}
