package remotestore_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/server"
	"github.com/perdure/perdure/store"
	"github.com/perdure/perdure/store/memstore"
	"github.com/perdure/perdure/store/remotestore"
)

// faultServer serves a memstore through the HTTP API, with fault injected
// in front of it.
func faultServer(t *testing.T, fault func(w http.ResponseWriter, r *http.Request, next http.Handler)) (*httptest.Server, store.Store) {
	t.Helper()
	st := memstore.New()
	c, err := perdure.NewClient(perdure.Options{Store: st, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	h, err := server.New(server.Config{Client: c, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fault(w, r, h) }))
	t.Cleanup(func() {
		ts.Close()
		_ = c.Close()
		_ = st.Close()
	})
	return ts, st
}

func createOp(id string) *store.RunCreateOp {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return &store.RunCreateOp{Run: store.Run{InstanceID: id, RunID: id + "-r1", Name: "wf", CreatedAt: now, UpdatedAt: now},
		Start: store.Message{Type: "ExecutionStarted", VisibleAt: now}}
}

// A write whose answer is lost is not sent again: its outcome is unknown,
// and Apply says so.
func TestApplyWithLostAnswerIsNotRetried(t *testing.T) {
	var applies atomic.Int32
	ts, backing := faultServer(t, func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if !strings.HasSuffix(r.URL.Path, "/apply") {
			next.ServeHTTP(w, r)
			return
		}
		applies.Add(1)
		next.ServeHTTP(httptest.NewRecorder(), r) // applied; the answer is lost
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	st, err := remotestore.Open(context.Background(), ts.URL, remotestore.Options{Wait: -1, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, err = st.Apply(context.Background(), []store.Op{createOp("i1")})
	if err == nil || !strings.Contains(err.Error(), "outcome of the 1 ops is unknown") {
		t.Fatalf("Apply: got %v, want an error saying the outcome is unknown", err)
	}
	if n := applies.Load(); n != 1 {
		t.Fatalf("the write was sent %d times", n)
	}
	if _, err := backing.RunGet(context.Background(), "i1", ""); err != nil {
		t.Fatalf("the write was applied, yet: %v", err)
	}
}

// A write that could not be sent (the connection was refused) is sent
// once the server can be reached; reads are retried after a proxy's 503.
func TestRetriesWhileTheServerIsUnreachable(t *testing.T) {
	var unavailable atomic.Int32
	unavailable.Store(2)
	ts, _ := faultServer(t, func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if strings.HasSuffix(r.URL.Path, "/runs/get") && unavailable.Add(-1) >= 0 {
			http.Error(w, "upstream unavailable", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
	var refused atomic.Int32
	tr := http.DefaultTransport.(*http.Transport).Clone()
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if refused.Add(-1) >= 0 {
			return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused")}
		}
		return dial(ctx, network, addr)
	}
	tr.DisableKeepAlives = true
	st, err := remotestore.Open(context.Background(), ts.URL, remotestore.Options{Wait: -1, Logger: quiet(),
		HTTPClient: &http.Client{Transport: tr}, RetryFor: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	refused.Store(3)
	errs, err := st.Apply(context.Background(), []store.Op{createOp("i1")})
	if err != nil || errs[0] != nil {
		t.Fatalf("Apply after refused connections: %v %v", err, errs)
	}
	if _, err := st.RunGet(context.Background(), "i1", ""); err != nil {
		t.Fatalf("RunGet after two 503s: %v", err)
	}
	if _, err := st.RunGet(context.Background(), "nope", ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RunGet of a missing instance: got %v, want ErrNotFound", err)
	}
}

// Reads give up after RetryFor.
func TestRetryForBoundsRetries(t *testing.T) {
	ts, _ := faultServer(t, func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if strings.HasSuffix(r.URL.Path, "/runs/get") {
			http.Error(w, "upstream unavailable", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
	st, err := remotestore.Open(context.Background(), ts.URL, remotestore.Options{Wait: -1, Logger: quiet(), RetryFor: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	began := time.Now()
	_, err = st.RunGet(context.Background(), "i1", "")
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("got %v, want the 503", err)
	}
	if d := time.Since(began); d < 300*time.Millisecond || d > 5*time.Second {
		t.Fatalf("gave up after %v", d)
	}
}
