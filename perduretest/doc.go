// Package perduretest is Perdure's test kit. It works with the standard
// testing package: helpers take a *testing.T, call t.Helper and fail with
// messages that say what went wrong and what to do; no assertion library is
// needed.
//
// # Replaying histories
//
// A Replayer replays recorded histories against the current workflow code,
// the way a worker replays a run after a restart, and reports a change that
// breaks determinism with the same diff the engine shows in production:
//
//	r := perduretest.NewReplayer()
//	if err := orders.Register(r.Worker()); err != nil { // or perduretest.RegisterWorkflow
//		t.Fatal(err)
//	}
//	perduretest.ReplayDir(t, r, "testdata") // every testdata/*.history.json
//
// Histories are the documents that `perdure workflow history ID --output
// json` prints and GET /api/v1/instances/{id}/history serves (schema
// perdure.history/v1). Replaying runs no activity and touches no store.
// RecordHistories (or ExportHistory and WriteHistoryFile) records such
// files from a test run.
//
// # Testing workflows in memory
//
// The in-memory environment runs workflows with a virtual clock and mocked
// activities; its types are documented below.
//
// See docs/testing.md for a walk-through.
package perduretest
