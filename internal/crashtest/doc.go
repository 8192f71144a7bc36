// Package crashtest holds the crash tests of Perdure. TestCrash runs its own
// test binary as a node process (NodeMain) on a SQLite database, kills it
// with SIGKILL at random points many times, restarts it, and then checks
// from the database and the activity log that every workflow completed with
// the right result, that no history is corrupted, and that activities ran
// again only when a kill interrupted them.
//
// TestFailoverPostgres runs two node processes on one PostgreSQL database
// and kills one of them again and again while the other goes on (which
// takes over the killed node's work when its leases expire), then checks
// the same way.
//
// A node starts a fixed set of workflow instances (those that do not exist
// yet), raises the external events they wait for, and serves their
// workflows and activities until it is killed or, with -exit-when-done,
// until every instance has finished. Every activity execution appends a
// "start" record to the activity log before it works and an "end" record
// after, each with one write and synced, and returns a nonce unique to the
// execution, so that the result committed in history names the execution
// that produced it:
//
//	start <idempotency key> <attempt> <incarnation> <nonce>
//	end <idempotency key> <incarnation> <nonce>
package crashtest
