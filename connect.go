package perdure

import (
	"context"
	"errors"

	"github.com/perdure/perdure/store/remotestore"
)

// Connect returns a client for the Perdure server at baseURL (for example
// "http://127.0.0.1:3500"): its engine runs in this process, on the
// server's store, through the server's worker API (package
// store/remotestore). Workers created on it with worker.New are remote
// workers: they run the workflows and activities this process registers,
// on the task queue of their worker.Options, while the server keeps the
// state and the other workers keep running.
//
//	c, err := perdure.Connect(ctx, "http://127.0.0.1:3500", perdure.Options{})
//	w := worker.New(c, worker.Options{TaskQueue: "gpu"})
//	worker.RegisterActivity(w, Render)
//	err = w.Run(ctx)
//
// The client starts, inspects and controls workflows as any other, but for
// purges, which go through the server. Options.Store must be nil;
// Options.NodeID, when set, also names this process in the server's list
// of workers (GET /api/v1/workers). Close closes the connection. For other
// settings of the connection, open a remotestore.Store and pass it to
// NewClient.
func Connect(ctx context.Context, baseURL string, opts Options) (*Client, error) {
	if opts.Store != nil {
		return nil, errors.New("perdure: Connect uses the server's store: leave Options.Store nil (or use NewClient)")
	}
	st, err := remotestore.Open(ctx, baseURL, remotestore.Options{Identity: opts.NodeID, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	opts.Store = st
	c, err := NewClient(opts)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	c.closeStore = st.Close
	return c, nil
}
