package sqlitestore

import (
	"context"
	"database/sql"
	"time"
)

// WAL checkpoints run in the background, on a connection of their own, so
// that a commit never pays for one: with SQLite's default, the commit that
// takes the WAL past 1,000 pages copies them into the database file and
// fsyncs it, adding milliseconds to that one commit. A passive checkpoint
// runs concurrently with the writer and waits for nobody; the writer keeps
// an automatic checkpoint at a much larger WAL size as a safety net.
//
// Under a steady stream of commits a passive checkpoint never lets the WAL
// start over (new frames arrive while it copies), so the WAL file only
// grows, to the safety net's writerAutoCheckpoint pages (32 MB of 2 KiB
// pages), and every commit's fsync must also record the file's new size:
// on ext4 about 0.1 ms more than an fsync after overwriting. So once a
// passive checkpoint has copied every frame of a WAL of restartFrames or
// more, a RESTART checkpoint waits up to 2 ms for readers to leave the
// WAL, and the next commits overwrite its start. It runs under the store's
// writer lock (restart), and under a stream of commits it is not free:
// it copies the frames committed since the passive checkpoint, fsyncing
// the WAL and then the database file, 1-3 ms during which no commit can
// run. So the WAL restarts only from 8,000 frames (about 16 MB of 2 KiB
// pages): from 1,000, one-at-a-time workflows met a restart in 2 % of
// runs, each about 2 ms slower, which was most of their 99th percentile.
const (
	checkpointEvery = 100 * time.Millisecond
	// writerAutoCheckpoint (pages) bounds the WAL if the background
	// checkpoints cannot keep up.
	writerAutoCheckpoint = 16384
	// defaultRestartFrames: the WAL size (frames, of a page each) from
	// which a fully copied WAL is restarted (Store.restartFrames).
	defaultRestartFrames = 8000
)

// startCheckpointer opens the checkpoint connection and starts the loop;
// stopCheckpointer ends it.
func (s *Store) startCheckpointer(dsn string) error {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(context.Background())
	if err != nil {
		db.Close()
		return err
	}
	// A RESTART checkpoint keeps new writers waiting while it waits for
	// readers: it gives up after 2 ms rather than delay commits.
	if _, err := conn.ExecContext(context.Background(), "PRAGMA busy_timeout=2"); err != nil {
		conn.Close()
		db.Close()
		return err
	}
	s.cpdb, s.cpconn = db, conn
	s.cpstop, s.cpdone = make(chan struct{}), make(chan struct{})
	go s.checkpointLoop()
	return nil
}

func (s *Store) checkpointLoop() {
	defer close(s.cpdone)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	var last int64
	for {
		select {
		case <-s.cpstop:
			return
		case <-t.C:
		}
		// Only when something was written since the last look.
		if n := s.commits.Load(); n != last {
			last = n
			var busy, frames, done int64
			err := s.cpconn.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &done)
			if err == nil && frames >= s.restartFrames && done == frames {
				s.restart()
			}
		}
	}
}

// restart runs the RESTART checkpoint while the store's writer lock is
// held: a RESTART holds SQLite's write lock while it waits for readers, and
// a writer that meets that lock sleeps in SQLite's busy handler for 1 ms,
// then 2, then 5, however soon the lock is free again. Waiting on the
// store's lock instead, the next write starts the moment the restart ends.
func (s *Store) restart() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed.Load() {
		return
	}
	_, _ = s.cpconn.ExecContext(context.Background(), "PRAGMA wal_checkpoint(RESTART)")
	s.restarts.Add(1)
}

// stopCheckpointer ends the loop and closes its connection; later calls
// do nothing. Close calls it before it takes the writer lock, which the
// loop takes to restart the WAL.
func (s *Store) stopCheckpointer() []error {
	if s.cpstop == nil {
		return nil
	}
	close(s.cpstop)
	<-s.cpdone
	s.cpstop = nil
	return []error{s.cpconn.Close(), s.cpdb.Close()}
}
