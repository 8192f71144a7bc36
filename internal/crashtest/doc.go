// Package crashtest holds the crash test of Perdure: TestCrash runs the
// program in ./node as a real process on a SQLite database, kills it with
// SIGKILL at random points many times, restarts it, and then checks from
// the database and the activity log that every workflow completed with the
// right result, that no history is corrupted, and that activities ran again
// only when a kill interrupted them.
package crashtest
