// Package perdure is durable execution for Go: workflows written as plain Go
// functions that survive crashes, restarts and waits of days, and activities
// that are retried with backoff, timed out, compensated, or completed later
// by another system. Everything is kept in one store: an embedded SQLite
// file (store/sqlitestore), or PostgreSQL for many nodes.
//
// A program opens a store, creates a Client (which runs the engine), and
// starts a worker with its workflows and activities:
//
//	st, _ := sqlitestore.Open("app.db", sqlitestore.Options{})
//	c, _ := perdure.NewClient(perdure.Options{Store: st})
//	w := worker.New(c, worker.Options{})
//	worker.RegisterWorkflow(w, TaskChainWorkflow)
//	worker.RegisterActivity(w, Step1)
//	w.Start()
//	id, _ := c.StartWorkflow(ctx, TaskChainWorkflow, 1, perdure.StartOptions{})
//	out, _ := perdure.GetResult[[]int](ctx, c, id)
//
// Workers can also run in other processes than the server that keeps the
// state: Connect returns a client on the store of a `perdure server`,
// through its worker API, and workers created on it serve the workflows and
// activities of that process (remote workers; docs/remote-workers.md):
//
//	c, _ := perdure.Connect(ctx, "http://127.0.0.1:3500", perdure.Options{})
//	w := worker.New(c, worker.Options{TaskQueue: "reports"})
//	worker.RegisterActivity(w, RenderReport)
//	w.Run(ctx)
//
// See package workflow for what workflow code can do, package activity for
// activity code, and docs/guarantees.md for what Perdure promises.
package perdure
