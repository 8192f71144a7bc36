package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/server"
	"github.com/perdure/perdure/server/durabletask"
	"github.com/perdure/perdure/store"
	"github.com/perdure/perdure/store/pgstore"
	"github.com/perdure/perdure/store/sqlitestore"
	"github.com/perdure/perdure/ui"
	"github.com/perdure/perdure/worker"
)

// nodeFlags are the flags shared by `perdure dev` and `perdure server`.
type nodeFlags struct {
	store                  string
	addr                   string
	logLevel               string
	logFormat              string
	maxWorkflowTasks       int
	maxActivities          int
	maxBodyBytes           int64
	retention              time.Duration
	shutdownGrace          time.Duration
	leaseDuration          time.Duration
	cacheSize              int
	nodeID                 string
	pollInterval           time.Duration
	grpcAddr               string
	sqliteExclusiveLocking bool
}

func (f *nodeFlags) register(cmd *cobra.Command, defaultStore string) {
	fl := cmd.Flags()
	fl.StringVar(&f.store, "store", envOr("PERDURE_STORE", defaultStore), "where everything is kept: a SQLite file path (or sqlite:PATH), or a postgres:// URL shared by several nodes (env PERDURE_STORE)")
	fl.StringVar(&f.addr, "addr", envOr("PERDURE_ADDR", "127.0.0.1:3500"), "HTTP listen address: native API, Dapr-compatible API, /healthz, /metrics (env PERDURE_ADDR)")
	fl.StringVar(&f.logLevel, "log-level", envOr("PERDURE_LOG_LEVEL", "info"), "log level: debug, info, warn or error (env PERDURE_LOG_LEVEL)")
	fl.StringVar(&f.logFormat, "log-format", envOr("PERDURE_LOG_FORMAT", "text"), "log format: text or json (env PERDURE_LOG_FORMAT)")
	fl.IntVar(&f.maxWorkflowTasks, "max-workflow-tasks", 16, "workflow tasks run at once by the in-process worker")
	fl.IntVar(&f.maxActivities, "max-activities", 100, "activity attempts run at once by the in-process worker")
	fl.Int64Var(&f.maxBodyBytes, "max-body-bytes", 2<<20, "largest accepted HTTP request body; larger ones get 413")
	fl.DurationVar(&f.retention, "retention", 0, "purge finished instances this long after they finished, e.g. 720h (0: keep them)")
	fl.DurationVar(&f.shutdownGrace, "shutdown-grace", 10*time.Second, "on Ctrl-C, how long running activities may finish before they are cancelled")
	fl.DurationVar(&f.leaseDuration, "lease", 30*time.Second, "how long claimed work stays with this node without renewal")
	fl.IntVar(&f.cacheSize, "cache-size", 10000, "live workflow instances kept in memory")
	fl.StringVar(&f.nodeID, "node-id", "", "name of this node in leases (default: random)")
	fl.DurationVar(&f.pollInterval, "poll-interval", time.Second, "how often an idle node looks for work that other nodes made ready without notifying it")
	fl.BoolVar(&f.sqliteExclusiveLocking, "sqlite-exclusive-locking", false, "SQLite: lock every other process out of the file while the node runs, even readers such as sqlite3's .backup, for faster commits (six fewer system calls each)")
	fl.StringVar(&f.grpcAddr, "grpc-addr", envOr("PERDURE_GRPC_ADDR", durabletask.DefaultAddr), "Durable Task gRPC listen address, for Dapr Workflow's SDKs (off: none) (env PERDURE_GRPC_ADDR)")
}

func newLogger(level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch strings.ToLower(format) {
	case "text", "":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}

// openStore opens the store named by --store: a PostgreSQL URL
// (postgres://… or postgresql://…), else a SQLite file path (sqlite:PATH
// also works), with sqlitestore.Options.ExclusiveLocking when exclusive. The
// second result names it for logs, without a password.
func openStore(spec string, exclusive bool) (store.Store, string, error) {
	switch {
	case isPostgres(spec) && exclusive:
		return nil, "", errors.New("--sqlite-exclusive-locking is for a SQLite store; --store is a PostgreSQL URL")
	case isPostgres(spec):
		var opts pgstore.Options
		if u, err := url.Parse(spec); err == nil {
			// pool_max_conns, as pgx spells it, sizes the node's pool.
			if n, err := strconv.Atoi(u.Query().Get("pool_max_conns")); err == nil && n > 0 {
				opts.MaxConns = int32(min(n, 10000))
			}
		}
		st, err := pgstore.Open(context.Background(), spec, opts)
		if err != nil {
			return nil, "", err
		}
		return st, redactURL(spec), nil
	case spec == "":
		return nil, "", errors.New("--store is empty: give a SQLite file path or a postgres:// URL")
	}
	path := strings.TrimPrefix(spec, "sqlite:")
	st, err := sqlitestore.Open(path, sqlitestore.Options{ExclusiveLocking: exclusive})
	if err != nil {
		return nil, "", err
	}
	return st, "sqlite:" + path, nil
}

func isPostgres(spec string) bool {
	return strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://")
}

// redactURL returns u with its password, if any, replaced by xxxxx.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	return p.Redacted()
}

// node is a running engine with its HTTP API and in-process worker.
type node struct {
	log    *slog.Logger
	st     store.Store
	client *perdure.Client
	worker *worker.Worker
	http   *http.Server
	ln     net.Listener
}

// register adds workflows and activities to the in-process worker; it may
// use the node's address (for callbacks through the public API).
type registerFunc func(w *worker.Worker, n *node) error

// runNode starts a node and blocks until SIGINT/SIGTERM, then shuts down
// gracefully: the HTTP server stops accepting, the worker finishes or
// releases its work, and the store is closed.
func runNode(cmd *cobra.Command, f *nodeFlags, kind string, register registerFunc) error {
	log, err := newLogger(f.logLevel, f.logFormat)
	if err != nil {
		return err
	}
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	n := &node{log: log}
	st, where, err := openStore(f.store, f.sqliteExclusiveLocking)
	if err != nil {
		return err
	}
	n.st = st
	defer st.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	client, err := perdure.NewClient(perdure.Options{Store: st, Logger: log, Metrics: reg, NodeID: f.nodeID,
		LeaseDuration: f.leaseDuration, CacheSize: f.cacheSize, PollInterval: f.pollInterval})
	if err != nil {
		return err
	}
	n.client = client
	defer client.Close()

	n.ln, err = net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another perdure running? choose another --addr)", f.addr, err)
	}

	n.worker = worker.New(client, worker.Options{MaxConcurrentWorkflowTasks: f.maxWorkflowTasks,
		MaxConcurrentActivities: f.maxActivities, ShutdownGrace: f.shutdownGrace, Logger: log})
	var workflows func() []string
	var validate func(string, []byte) error
	if register != nil {
		if err := register(n.worker, n); err != nil {
			n.ln.Close()
			return err
		}
		workflows = n.worker.WorkflowNames
		validate = func(name string, input []byte) error {
			if err := n.worker.ValidateInput(name, input); err != nil && !errors.Is(err, worker.ErrUnknownWorkflow) {
				return err
			}
			return nil
		}
		if err := n.worker.Start(); err != nil {
			n.ln.Close()
			return err
		}
	}

	var handlerRef atomic.Pointer[server.Server]
	var dt *durabletask.Service
	var grpcSrv *grpc.Server
	var grpcLn net.Listener
	if f.grpcAddr != "" && f.grpcAddr != "off" {
		if grpcLn, err = net.Listen("tcp", f.grpcAddr); err != nil {
			n.ln.Close()
			return fmt.Errorf("listen on %s for the Durable Task gRPC API: %w (choose another --grpc-addr, or --grpc-addr off)", f.grpcAddr, err)
		}
		// Runs of workflows that remote Go workers serve stay theirs
		// (handler is set below, before any worker can connect).
		remote := func() []string {
			if h := handlerRef.Load(); h != nil {
				return h.RemoteWorkflows()
			}
			return nil
		}
		if dt, err = durabletask.New(client, durabletask.Options{Logger: log, OtherWorkflows: remote}); err != nil {
			n.ln.Close()
			grpcLn.Close()
			return err
		}
		if workflows != nil {
			local := workflows
			workflows = func() []string {
				names, any := dt.WorkflowNames()
				if any {
					return nil
				}
				return append(local(), names...)
			}
		}
	}

	handler, err := server.New(server.Config{Client: client, Logger: log, MaxBodyBytes: f.maxBodyBytes,
		Workflows: workflows, ValidateInput: validate, Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}),
		Extra: map[string]http.Handler{"/": ui.Handler(ui.Options{})}})
	if err != nil {
		n.ln.Close()
		return err
	}
	handlerRef.Store(handler)
	if dt != nil {
		// Workers' answers carry activity results: accept up to 64 MB
		// (grpc-go's default is 4 MB).
		grpcSrv = grpc.NewServer(grpc.MaxRecvMsgSize(64 << 20))
		dt.Register(grpcSrv)
		go func() {
			if err := grpcSrv.Serve(grpcLn); err != nil {
				log.Error("Durable Task gRPC server stopped", "error", err)
			}
		}()
	}
	n.http = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	// Remote workers' long polls end at once on shutdown.
	n.http.RegisterOnShutdown(handler.Shutdown)
	serveErr := make(chan error, 1)
	go func() { serveErr <- n.http.Serve(n.ln) }()

	if f.retention > 0 {
		go purgeLoop(ctx, client, f.retention, log)
	}
	url := "http://" + n.ln.Addr().String()
	log.Info("perdure "+kind+" is ready", "address", url, "store", where, "workflows", len(n.worker.WorkflowNames()))
	fmt.Fprintf(cmd.OutOrStdout(), "Perdure %s listening on %s (store %s)\n", kind, url, where)
	if grpcLn != nil {
		log.Info("Durable Task gRPC API is ready", "address", grpcLn.Addr().String())
		fmt.Fprintf(cmd.OutOrStdout(), "Durable Task gRPC API (Dapr Workflow SDKs) on %s\n", grpcLn.Addr())
	}

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP server stopped", "error", err)
		}
	}
	log.Info("shutting down: finishing in-flight work (Ctrl-C again to force)")
	stop()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), f.shutdownGrace+5*time.Second)
	defer cancel()
	_ = n.http.Shutdown(shutdownCtx)
	if dt != nil {
		// Work items not answered go back to the store; then the streams
		// and calls still open are ended.
		dt.Close()
		stopGRPC(grpcSrv, 2*time.Second)
	}
	if err := n.worker.Stop(); err != nil {
		log.Warn("stop worker", "error", err)
	}
	log.Info("stopped; unfinished workflows continue when perdure starts again")
	return nil
}

// stopGRPC stops g gracefully, or at once after grace (calls that wait for
// an instance can last long).
func stopGRPC(g *grpc.Server, grace time.Duration) {
	done := make(chan struct{})
	go func() {
		g.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace):
		g.Stop()
	}
}

// address is the base URL of the node's HTTP API, for callbacks.
func (n *node) address() string { return "http://" + n.ln.Addr().String() }

// purgeLoop deletes instances that finished more than retention ago.
func purgeLoop(ctx context.Context, c *perdure.Client, retention time.Duration, log *slog.Logger) {
	every := min(max(retention/10, time.Minute), time.Hour)
	for {
		n, err := c.PurgeWhere(ctx, perdure.PurgeFilter{FinishedBefore: time.Now().Add(-retention), Limit: 10000})
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("retention purge failed", "error", err)
		case n > 0:
			log.Info("retention purge", "instances", n, "finished_before", time.Now().Add(-retention).Format(time.RFC3339))
		}
		if n == 10000 {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}
