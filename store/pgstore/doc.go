// Package pgstore is the PostgreSQL store.Store: one database shared by
// any number of Perdure nodes.
//
//	st, err := pgstore.Open(ctx, "postgres://perdure@db:5432/perdure", pgstore.Options{})
//
// Open takes a postgres:// or postgresql:// URL or key=value pairs
// ("host=db dbname=perdure"), and Options.Schema names the PostgreSQL
// schema of the tables (set as the search_path of every connection), so
// that several Perdure databases can live in one PostgreSQL database.
//
// # Schema and migrations
//
// The tables are those of the embedded SQLite store: runs, history,
// messages (the inboxes) and activity_tasks, created by the numbered
// migrations embedded from migrations/ and recorded in schema_version. Open
// migrates a schema that is older than the binary (Migrate does the same
// ahead of a deployment), under a PostgreSQL advisory lock so that nodes
// starting at once do not race, and refuses a schema migrated by a newer
// Perdure with an error wrapping store.ErrSchemaTooNew. Times are
// timestamptz (microseconds, UTC), an unset time is 0001-01-01 00:00:00+00,
// and ids use the "C" collation, so that they order byte by byte.
//
// A run keeps ready_at, the time from which it is claimable (its earliest
// message that can wake it, but not before its lease or retry delay ends),
// and an activity task keeps due_at (when it becomes claimable or its
// lease or deadline expires; every statement that changes one of those
// sets it), so that claims and NextWakeup are range scans of one index
// each.
//
// # Writes
//
// Apply commits a batch in one transaction. The statements of an op check
// the contract themselves (a lease, a history length, an attempt, a
// target run) and raise an error through the function perdure_fail when
// it refuses the op, so that an op needs no read of its own: statements
// are queued and sent in one pipeline when a result is needed or at
// COMMIT, and a batch whose ops read nothing (starts, messages, commits,
// activity results, with their fused tasks and eager leases) is one round
// trip, BEGIN and COMMIT included. Statements are prepared once per
// connection.
//
// What a step of a workflow costs PostgreSQL is mostly the set-up of each
// statement, whatever it does; so the ops of the fast path are one
// statement each, whose parts are data-modifying WITH queries: a start
// with its first workflow task (its events and activity tasks), an
// activity result with the task it wakes (fused), a workflow task's
// commit with its lease check, consumed messages, events, activity tasks
// and eager lease. Outcomes that send messages, start children, cancel
// activities or carry events over take one statement per part.
//
// The activity results of a batch that go with their fused tasks, one per
// run, are written together by one statement whose parts take arrays
// (bulkFused): half the cost of one statement each. That statement is all
// or nothing; when one of them does not apply, the batch is applied again
// op by op.
//
// A batch is applied first without savepoints. When an op fails, the
// transaction is rolled back and the batch applied again with each op
// inside a savepoint, so that the failed op is rolled back alone and
// leaves no trace; a batch of one op needs none. A start assumes its
// instance has no current run, and a fused task that it applies; when the
// assumption fails, the op is applied again on the slow path.
//
// A batch first locks the runs its ops name, in run id order, so that two
// nodes whose batches touch the same runs wait for each other instead of
// deadlocking; a transaction that still meets a deadlock, or a concurrent
// start of the same instance, is tried again. A batch with a workflow
// task's commit always does, so that the commit's statement, which reads
// the run's inbox, sees every message sent to the run before.
//
// Statements look rows up by key in nested loops (lists of ids are
// unnested, not compared with ANY), and claims ask the planner for index
// scans and nested loops: the tables of a new database grow from empty,
// and a connection plans a statement on the table sizes it knew when it
// first ran it, until the tables are analyzed again.
//
// # Leases and fencing
//
// Claims select with FOR UPDATE SKIP LOCKED, so that concurrent claimers,
// on one node or many, never lease the same run or activity task and never
// wait for each other. A workflow task claim leases runs (owner and
// lease_until), then reads their messages once it holds their locks (two
// round trips), and is committed without waiting for the WAL flush: a lost
// lease only makes a run claimable again. An activity task claim starts the
// next attempt (attempt+1) in one durable round trip.
//
// Commits are fenced: a workflow task commit or abandon succeeds only while
// its lease owner still holds the run's lease and the history has the
// length the task started from (else store.ErrLeaseLost); an activity task
// operation succeeds only for the task's current attempt (else
// store.ErrStaleTask). A node that paused past its lease, whose work
// another node took over, cannot commit stale work.
//
// # Wake-ups across nodes
//
// A transaction that makes work ready for other nodes (a run to claim, a
// READY activity task, released leases) sends a NOTIFY on the channel
// "perdure_wake:SCHEMA" with the payload "w", "a" or "wa" (workflow and
// activity tasks), delivered only if it commits. Work leased at once by its
// own node (eager and fused dispatch) notifies no one. Wakeups returns the
// channel of those wake-ups, fed by a connection that LISTENs; see
// Wakeups. PostgreSQL serialises the commits of all the transactions of the
// server that notify (they queue their notifications in commit order),
// which is one more reason for the fast path not to.
//
// # Connections
//
// A store uses a pool of Options.MaxConns connections (8 by default): one
// per Apply or claim in flight, and the reads. Wakeups adds one connection
// of its own. A node running N stores therefore needs N×(MaxConns+1)
// connections of the server's max_connections.
//
// Batches of more than 64 ops use more than 64 subtransactions, which
// PostgreSQL no longer tracks in shared memory: snapshots of concurrent
// transactions then look them up in pg_subtrans. Keep batches under 64 ops
// where many nodes share a busy database.
//
// # Tests
//
// The tests need a PostgreSQL server and skip without one: set
// PERDURE_TEST_POSTGRES to a URL, for example
//
//	PERDURE_TEST_POSTGRES='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' go test -race ./store/pgstore/
//
// Each test creates schemas of random names and drops them when it ends, so
// tests run in parallel and leave nothing behind; the user needs the CREATE
// privilege on the database. BenchmarkFusedStep measures the fast path's
// writes.
package pgstore
