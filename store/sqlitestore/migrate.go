package sqlitestore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/perdure/perdure/store"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migration is one numbered schema step.
type migration struct {
	version  int
	name     string
	up, down string
}

// migrations returns the embedded migrations in version order.
func migrations() ([]migration, error) {
	files, err := fs.Glob(migrationFS, "migrations/*.up.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, f := range files {
		base := strings.TrimSuffix(strings.TrimPrefix(f, "migrations/"), ".up.sql")
		num, _, _ := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("migration %s: the name must start with its number", f)
		}
		up, err := migrationFS.ReadFile(f)
		if err != nil {
			return nil, err
		}
		down, err := migrationFS.ReadFile("migrations/" + base + ".down.sql")
		if err != nil {
			return nil, fmt.Errorf("migration %s has no .down.sql: %w", f, err)
		}
		ms = append(ms, migration{version: v, name: base, up: string(up), down: string(down)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migrations must be numbered 1, 2, 3…: %s is number %d", m.name, i+1)
		}
	}
	return ms, nil
}

// LatestSchemaVersion is the schema version this binary migrates to.
func LatestSchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		panic(err) // the embedded files are part of the binary
	}
	return len(ms)
}

// Migrate opens the database at path, which brings it to the latest
// schema version, and closes it; from is the version it had before.
func Migrate(path string) (from, to int, err error) {
	s, err := Open(path, Options{})
	if err != nil {
		return 0, 0, err
	}
	from, to = s.openedAt, s.version
	return from, to, s.Close()
}

// migrate brings the database to the latest schema version, one
// transaction per migration.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	if _, err := s.wconn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlitestore: %s: create schema_version: %w (is it a SQLite database, and writable?)", s.path, err)
	}
	cur, err := s.readVersion(ctx)
	if err != nil {
		return err
	}
	s.openedAt = cur
	if cur > len(ms) {
		return fmt.Errorf("sqlitestore: %s has schema version %d, this binary knows up to %d; run a newer Perdure, or restore a backup made by this version: %w",
			s.path, cur, len(ms), store.ErrSchemaTooNew)
	}
	for _, m := range ms[cur:] {
		err := s.write(ctx, func(w *wtx) error {
			if _, err := s.wconn.ExecContext(w.ctx, m.up); err != nil {
				return err
			}
			return setVersion(w, m.version)
		})
		if err != nil {
			return fmt.Errorf("sqlitestore: %s: migration %s: %w", s.path, m.name, err)
		}
		cur = m.version
	}
	s.version = cur
	return nil
}

func (s *Store) readVersion(ctx context.Context) (int, error) {
	var v int
	if err := s.wconn.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("sqlitestore: %s: read schema_version: %w", s.path, err)
	}
	return v, nil
}

// beforeDown holds, by version, what must be done in Go before that
// migration's down.sql runs.
var beforeDown = map[int]func(w *wtx) error{4: expandChunks}

// migrateDown reverts the migrations above version, newest first.
func (s *Store) migrateDown(ctx context.Context, version int) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	for i := s.version; i > version; i-- {
		m := ms[i-1]
		err := s.write(ctx, func(w *wtx) error {
			if before := beforeDown[m.version]; before != nil {
				if err := before(w); err != nil {
					return err
				}
			}
			if _, err := s.wconn.ExecContext(w.ctx, m.down); err != nil {
				return err
			}
			return setVersion(w, i-1)
		})
		if err != nil {
			return fmt.Errorf("sqlitestore: %s: revert migration %s: %w", s.path, m.name, err)
		}
		s.version = i - 1
	}
	return nil
}

func setVersion(w *wtx, v int) error {
	if _, err := w.s.wconn.ExecContext(w.ctx, `DELETE FROM schema_version`); err != nil {
		return err
	}
	_, err := w.s.wconn.ExecContext(w.ctx, `INSERT INTO schema_version (version) VALUES (?)`, v)
	return err
}
