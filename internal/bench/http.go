package bench

import (
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/perdure/perdure/httpclient"
	"github.com/perdure/perdure/server"
	"github.com/perdure/perdure/worker"
)

// serveHTTP mounts the HTTP API of `perdure server` (package server, set up
// as cmd/perdure's node does: registered workflow names and input
// validation from the in-process worker) on a loopback TCP port, and
// creates an HTTP client of it.
//
// The client's transport keeps as many idle connections to the server as
// the benchmark has requests in flight, as a client built for concurrency
// would: with net/http's default of 2 per host, every other request would
// open a new TCP connection and the figures would measure connection set-up
// and TIME_WAIT exhaustion instead of the API.
func (e *Env) serveHTTP() error {
	handler, err := server.New(server.Config{Client: e.Client, Logger: e.cfg.Logger,
		Workflows: e.worker.WorkflowNames,
		ValidateInput: func(name string, input []byte) error {
			if err := e.worker.ValidateInput(name, input); err != nil && !errors.Is(err, worker.ErrUnknownWorkflow) {
				return err
			}
			return nil
		}})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	e.srv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	e.srvDone = make(chan error, 1)
	go func() { e.srvDone <- e.srv.Serve(ln) }()
	e.URL = "http://" + ln.Addr().String()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	conns := max(e.cfg.Workflows, 64) + 16
	tr.MaxIdleConns = conns
	tr.MaxIdleConnsPerHost = conns
	e.HTTP, err = httpclient.New(e.URL, httpclient.WithHTTPClient(&http.Client{Transport: tr}))
	return err
}
