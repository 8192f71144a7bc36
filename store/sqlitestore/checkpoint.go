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
const (
	checkpointEvery = 100 * time.Millisecond
	// writerAutoCheckpoint (pages) bounds the WAL if the background
	// checkpoints cannot keep up.
	writerAutoCheckpoint = 16384
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
			_, _ = s.cpconn.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
		}
	}
}

func (s *Store) stopCheckpointer() []error {
	if s.cpstop == nil {
		return nil
	}
	close(s.cpstop)
	<-s.cpdone
	return []error{s.cpconn.Close(), s.cpdb.Close()}
}
