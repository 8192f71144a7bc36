// Package sqlitestore is the embedded store.Store: one SQLite database file
// used by one process.
//
// Every connection runs in WAL mode with synchronous=FULL, so Apply and the
// activity task claims return only after their transaction is fsynced; a
// workflow task claim, a lease and no promise, commits with
// synchronous=NORMAL (writeSync, docs/guarantees.md). All writes go
// through a single connection (SQLite has one writer at a time) inside
// BEGIN IMMEDIATE transactions. A batch's ops run without savepoints;
// when one fails, the transaction is rolled back and run again with a
// SAVEPOINT around each op from that one on, so that a failed op leaves no
// trace. The workflow task outcomes and starts of a batch are written with
// one statement per table (bulk.go). An Apply of a single op, and the
// bulk statements, start from the rows of their runs that the previous
// such Applies left, instead of reading them back (runcache.go). Reads
// use a small pool of read-only
// connections that see the last committed state. Hot statements are
// prepared once per connection. The writer connection goes through a VFS
// that writes the WAL frames of a transaction with one pwrite (walvfs.go).
//
// Open takes an exclusive advisory lock on PATH.lock: a second process (or
// a second Open) on the same file fails at once instead of corrupting the
// leases the first one holds.
//
// The schema is created and upgraded by the numbered migrations embedded
// from migrations/; a database migrated by a newer binary is refused with
// an error wrapping store.ErrSchemaTooNew. The driver is modernc.org/sqlite
// (pure Go, no cgo); docs/sqlite-driver.md says why.
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/perdure/perdure/store"

	"modernc.org/sqlite" // also registers the "sqlite" database/sql driver
	lib "modernc.org/sqlite/lib"
)

// Options tunes a Store. The zero value is the recommended setting.
type Options struct {
	// BusyTimeout is how long a statement waits for a lock held by another
	// connection before it fails. Default 5s.
	BusyTimeout time.Duration
	// ReadConns is the number of read connections. Default 4.
	ReadConns int
	// ExclusiveLocking keeps the database file locked against every
	// other process for as long as the store is open, and the WAL's index
	// in this process's memory instead of a shared-memory file (SQLite's
	// unix-excl VFS): each transaction then takes its locks without a
	// system call (six fewer a commit), but no other process can read the
	// file while the store is open, not even sqlite3's .backup. (Every
	// store already keeps other Perdure processes out: see Exclusive.)
	// Default off. Not available on Windows.
	ExclusiveLocking bool
	// Deprecated: NextWakeup compares with the time its caller passes
	// (the engine's clock, virtual or not); Now has no effect.
	Now func() time.Time

	// restartFrames, for tests: the WAL size from which it restarts;
	// 0 means defaultRestartFrames.
	restartFrames int
}

// Store is the SQLite store.Store. Open returns one; Close releases it.
type Store struct {
	path   string
	lock   *os.File
	closed atomic.Bool

	wmu sync.Mutex // serialises writers; guards wconn, wstmts and unsynced
	// unsynced, once set, fails every write: the writer connection could
	// not be set back to synchronous=FULL.
	unsynced error
	wdb      *sql.DB
	wconn    *sql.Conn
	wstmt    map[string]*sql.Stmt
	// runs: unfinished runs as the last Applies left them (runcache.go),
	// with runsBytes payload bytes; guarded by wmu.
	runs      map[string]*runEntry
	runsBytes int

	rdb   *sql.DB
	rstmu sync.Mutex
	rstmt map[string]*sql.Stmt

	version  int
	openedAt int // the schema version before Open migrated it

	// bulked counts the ops bulkApply applied (also in rolled back
	// passes); noBulk turns bulkApply off. For tests.
	bulked atomic.Int64
	noBulk bool
	// bulkReads counts the activity results whose task and run the bulk
	// statements read (those the run cache did not hold). For tests.
	bulkReads atomic.Int64

	// The background WAL checkpointer (checkpoint.go).
	commits        atomic.Int64 // write transactions committed
	restarts       atomic.Int64 // RESTART checkpoints run, for tests
	restartFrames  int64        // the WAL size from which it restarts
	cpdb           *sql.DB
	cpconn         *sql.Conn
	cpstop, cpdone chan struct{}
}

var _ store.Store = (*Store)(nil)

// Open opens (creating it and its directory if needed) the database at
// path, which may be a plain file path or "sqlite:PATH", and migrates it to
// the schema this binary knows.
func Open(path string, opts Options) (*Store, error) {
	path = strings.TrimPrefix(path, "sqlite://")
	path = strings.TrimPrefix(path, "sqlite:")
	if path == "" {
		return nil, errors.New("sqlitestore: empty database path: pass a file path such as perdure.db")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: database path %q: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, fmt.Errorf("sqlitestore: create the directory of %s: %w", abs, err)
	}
	// One lock file per database, whatever the path that names it.
	if dir, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		abs = filepath.Join(dir, filepath.Base(abs))
	}
	lock, err := lockFile(abs + ".lock")
	if err != nil {
		return nil, err
	}
	s := &Store{path: abs, lock: lock, wstmt: map[string]*sql.Stmt{}, rstmt: map[string]*sql.Stmt{}}
	if err := s.open(opts); err != nil {
		s.shutdown()
		return nil, err
	}
	return s, nil
}

// pageSize is the page size of a database file this package creates; a
// file keeps the size it was created with. A commit writes every page it
// changed to the WAL, and a workflow step changes six to twelve pages
// (the run, the task, the history and their indexes) with a few hundred
// bytes each: 2 KiB pages halve the bytes each commit checksums, writes
// and fsyncs, against 4 KiB (SQLite's default), for a one-at-a-time
// latency 6-14 % lower and bursts about 6 % slower. 1 KiB pages write
// fewer bytes still, but cost bursts more again in page splits and frame
// headers, for no lower latency (docs/performance.md, item 48).
const pageSize = 2048

func (s *Store) open(opts Options) error {
	s.restartFrames = defaultRestartFrames
	if opts.restartFrames > 0 {
		s.restartFrames = int64(opts.restartFrames)
	}
	busy := opts.BusyTimeout
	if busy <= 0 {
		busy = 5 * time.Second
	}
	readers := opts.ReadConns
	if readers <= 0 {
		readers = 4
	}
	pragmas := func(extra ...string) string {
		q := url.Values{}
		// The driver runs busy_timeout first (setting WAL mode may need
		// to wait), then the other _pragma values in alphabetical order,
		// then _journal_mode: so page_size comes before the switch to
		// WAL, which fixes the page size of a new file.
		for _, p := range append([]string{
			fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()),
			fmt.Sprintf("page_size(%d)", pageSize),
			"synchronous(FULL)",
		}, extra...) {
			q.Add("_pragma", p)
		}
		q.Set("_journal_mode", "WAL")
		return "file:" + uriPath(s.path) + "?" + q.Encode()
	}
	// The writer goes through the VFS that combines its WAL writes
	// (walvfs.go); the readers and the checkpoints through the SQLite VFS
	// it is built on.
	wvfs := walVFSFor(opts.ExclusiveLocking)
	if err := wvfs.register(); err != nil {
		return err
	}
	vfs := ""
	if wvfs.base != "" {
		vfs = "&vfs=" + wvfs.base
	}
	var err error
	// temp_store(MEMORY): the statement journal of a savepoint or of a
	// multi-row statement (a copy of each page it changes, to undo it)
	// stays in memory instead of spilling to a temporary file past 64 KiB.
	// It only ever undoes part of an open transaction; crash recovery is
	// the WAL's.
	wdsn := pragmas(fmt.Sprintf("wal_autocheckpoint(%d)", writerAutoCheckpoint), "temp_store(MEMORY)") + "&vfs=" + wvfs.name
	if s.wdb, err = sql.Open("sqlite", wdsn); err != nil {
		return fmt.Errorf("sqlitestore: open %s: %w", s.path, err)
	}
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	s.wdb.SetConnMaxLifetime(0)
	s.wdb.SetConnMaxIdleTime(0)
	ctx := context.Background()
	if s.wconn, err = s.wdb.Conn(ctx); err != nil {
		if opts.ExclusiveLocking && isBusy(err) {
			return fmt.Errorf("sqlitestore: open %s with exclusive locking: %w (another process has the file open, sqlite3 or a backup perhaps: exclusive locking needs it alone)", s.path, err)
		}
		return fmt.Errorf("sqlitestore: open %s: %w (is it a SQLite database, and writable?)", s.path, err)
	}
	if err := s.migrate(ctx); err != nil {
		return err
	}
	if s.rdb, err = sql.Open("sqlite", pragmas("query_only(ON)")+vfs); err != nil {
		return fmt.Errorf("sqlitestore: open %s for reading: %w", s.path, err)
	}
	s.rdb.SetMaxOpenConns(readers)
	s.rdb.SetMaxIdleConns(readers)
	s.rdb.SetConnMaxLifetime(0)
	s.rdb.SetConnMaxIdleTime(0)
	if err := s.rdb.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlitestore: open %s for reading: %w", s.path, err)
	}
	if err := s.startCheckpointer(pragmas() + vfs); err != nil {
		return fmt.Errorf("sqlitestore: open %s for checkpoints: %w", s.path, err)
	}
	return nil
}

// uriPath escapes the characters that end or escape the path of a SQLite
// URI filename.
func uriPath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(p))
}

// Path returns the database file.
func (s *Store) Path() string { return s.path }

// SchemaVersion returns the schema version of the database.
func (s *Store) SchemaVersion() int { return s.version }

// Exclusive reports true: Open holds an exclusive lock on the file.
func (s *Store) Exclusive() bool { return true }

// Close waits for the running write, closes the connections and releases
// the file lock. Later calls fail with store.ErrClosed.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	// Before the writer lock, which the checkpointer takes to restart the
	// WAL (checkpoint.go).
	errs := s.stopCheckpointer()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.shutdown(errs...)
}

// shutdown closes what Open opened, stopping the checkpointer unless it
// has stopped already; errs are errors met before, reported with its own.
func (s *Store) shutdown(errs ...error) error {
	errs = append(errs, s.stopCheckpointer()...)
	for _, st := range s.wstmt {
		errs = append(errs, st.Close())
	}
	s.wstmt = nil
	if s.wconn != nil {
		errs = append(errs, s.wconn.Close())
	}
	if s.wdb != nil {
		errs = append(errs, s.wdb.Close())
	}
	s.rstmu.Lock()
	for _, st := range s.rstmt {
		errs = append(errs, st.Close())
	}
	s.rstmt = nil
	s.rstmu.Unlock()
	if s.rdb != nil {
		errs = append(errs, s.rdb.Close())
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Close()) // releases the lock
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlitestore: close %s: %w", s.path, err)
	}
	return nil
}

func (s *Store) errClosed() error {
	return fmt.Errorf("sqlitestore %s: %w", s.path, store.ErrClosed)
}

// dbErr wraps an error of the database itself (I/O, corruption, a closed
// connection), as opposed to an op that the contract refuses. A dbErr fails
// the whole Apply batch.
type dbErr struct{ err error }

func (e *dbErr) Error() string { return e.err.Error() }
func (e *dbErr) Unwrap() error { return e.err }

// wrapDB marks err as a database failure, mapping it to store.ErrClosed
// when the store was closed under it.
// isBusy reports whether err is SQLite's SQLITE_BUSY: a lock another
// connection holds.
func isBusy(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == lib.SQLITE_BUSY
}

func (s *Store) wrapDB(what string, err error) error {
	if err == nil {
		return nil
	}
	if s.closed.Load() {
		return s.errClosed()
	}
	var de *dbErr
	if errors.As(err, &de) {
		return err
	}
	return &dbErr{fmt.Errorf("sqlitestore %s: %s: %w", s.path, what, err)}
}

// rquery returns a prepared statement of the read pool.
func (s *Store) rquery(ctx context.Context, q string) (*sql.Stmt, error) {
	if s.closed.Load() {
		return nil, s.errClosed()
	}
	s.rstmu.Lock()
	defer s.rstmu.Unlock()
	if st := s.rstmt[q]; st != nil {
		return st, nil
	}
	if s.rstmt == nil {
		return nil, s.errClosed()
	}
	st, err := s.rdb.PrepareContext(ctx, q)
	if err != nil {
		return nil, s.wrapDB("prepare", err)
	}
	s.rstmt[q] = st
	return st, nil
}

// micros encodes a time as stored: unix microseconds.
func micros(t time.Time) int64 { return t.UnixMicro() }

// fromMicros decodes a stored time.
func fromMicros(n int64) time.Time { return time.UnixMicro(n).UTC() }

// blob binds b as NULL when nil.
func blob(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
