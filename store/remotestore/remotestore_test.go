package remotestore_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/internal/pgtest"
	"github.com/perdure/perdure/server"
	"github.com/perdure/perdure/store"
	"github.com/perdure/perdure/store/memstore"
	"github.com/perdure/perdure/store/pgstore"
	"github.com/perdure/perdure/store/remotestore"
	"github.com/perdure/perdure/store/sqlitestore"
	"github.com/perdure/perdure/store/storetest"
)

// remote is a server over a store, and a remote store connected to it.
type remote struct {
	*remotestore.Store
	backing store.Store
	client  *perdure.Client
	http    *httptest.Server

	mu     sync.Mutex
	closed bool
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newRemote serves backing through an engine and the HTTP API, and opens a
// remote store on it with opts.
func newRemote(t testing.TB, backing store.Store, opts remotestore.Options) *remote {
	t.Helper()
	c, err := perdure.NewClient(perdure.Options{Store: backing, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	h, err := server.New(server.Config{Client: c, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	ts.Config.RegisterOnShutdown(h.Shutdown)
	if opts.Logger == nil {
		opts.Logger = quiet()
	}
	st, err := remotestore.Open(context.Background(), ts.URL, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &remote{Store: st, backing: backing, client: c, http: ts}
}

// Close closes the remote store, then the server and the backing store.
func (r *remote) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	_ = r.Store.Close()
	r.http.Close()
	_ = r.client.Close()
	return r.backing.Close()
}

// The worker API refuses purges and the release of every owner's leases,
// which are the server's own business; the conformance suite uses them to
// set up its cases, so the test harness sends them to the backing store.
type conformant struct{ *remote }

func (c conformant) Purge(ctx context.Context, p *store.PurgeParams) (int, error) {
	if c.isClosed() {
		return 0, store.ErrClosed
	}
	return c.backing.Purge(ctx, p)
}

func (c conformant) LeasesRelease(ctx context.Context, owner string) error {
	if owner != "" || c.isClosed() {
		return c.remote.Store.LeasesRelease(ctx, owner)
	}
	return c.backing.LeasesRelease(ctx, owner)
}

func (r *remote) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// The whole conformance suite, through the network, over an in-memory
// store, a SQLite file, and PostgreSQL when PERDURE_TEST_POSTGRES is set.
func TestConformance(t *testing.T) {
	kinds := []string{"memory", "sqlite"}
	if os.Getenv("PERDURE_TEST_POSTGRES") != "" {
		kinds = append(kinds, "postgres")
	}
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, func(t *testing.T) store.Store {
				var backing store.Store
				var err error
				switch kind {
				case "sqlite":
					backing, err = sqlitestore.Open(filepath.Join(t.TempDir(), "perdure.db"), sqlitestore.Options{})
				case "postgres":
					backing, err = pgstore.Open(context.Background(), pgtest.Schema(t), pgstore.Options{MaxConns: 4})
				default:
					backing = memstore.New()
				}
				if err != nil {
					t.Fatal(err)
				}
				return conformant{newRemote(t, backing, remotestore.Options{Wait: -1})}
			})
		})
	}
}

func TestPurgeAndReleaseAllAreRefused(t *testing.T) {
	r := newRemote(t, memstore.New(), remotestore.Options{Wait: -1})
	defer r.Close()
	ctx := context.Background()
	if _, err := r.Purge(ctx, &store.PurgeParams{}); !errors.Is(err, remotestore.ErrPurgeNotSupported) {
		t.Errorf("Purge: got %v, want ErrPurgeNotSupported", err)
	}
	if err := r.LeasesRelease(ctx, ""); err == nil {
		t.Errorf("LeasesRelease(\"\") succeeded")
	}
}
