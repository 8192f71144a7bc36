package sqlitestore

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/perdure/perdure/store"
)

// History chunks. A commit that appends several events to a run's history
// writes them as one row: id is the last event's number, first_id the
// first's, and chunk holds the events in order, each framed as
//
//	uvarint len(type), type, varint time (unix µs), uvarint len(data)+1 (0: nil), data
//
// A commit of one event writes the plain row (type, time, data), as schema
// versions before 4 did for every event.

// encodeChunk frames events, whose IDs must follow one another.
func encodeChunk(events []*store.Event) []byte {
	size := 0
	for _, e := range events {
		size += len(e.Type) + len(e.Data) + 3*binary.MaxVarintLen64
	}
	b := make([]byte, 0, size)
	for _, e := range events {
		b = binary.AppendUvarint(b, uint64(len(e.Type)))
		b = append(b, e.Type...)
		b = binary.AppendVarint(b, micros(e.Time))
		if e.Data == nil {
			b = binary.AppendUvarint(b, 0)
		} else {
			b = binary.AppendUvarint(b, uint64(len(e.Data))+1)
			b = append(b, e.Data...)
		}
	}
	return b
}

var errBadChunk = errors.New("damaged history chunk")

// decodeChunk appends the events first, first+1… framed in b that are
// numbered above after, at most limit of them (limit < 0: all). Their Data
// are slices of b, which must not be changed afterwards.
func decodeChunk(out []*store.Event, b []byte, first, after int64, limit int) ([]*store.Event, error) {
	for id := first; len(b) > 0 && limit != 0; id++ {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return out, errBadChunk
		}
		typ := b[k : k+int(n)]
		b = b[k+int(n):]
		t, k := binary.Varint(b)
		if k <= 0 {
			return out, errBadChunk
		}
		b = b[k:]
		n, k = binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k)+1 {
			return out, errBadChunk
		}
		b = b[k:]
		var data []byte
		if n > 0 {
			data = b[: n-1 : n-1]
			b = b[n-1:]
		}
		if id > after {
			out = append(out, &store.Event{ID: id, Type: string(typ), Time: fromMicros(t), Data: data})
			limit--
		}
	}
	return out, nil
}

// consecutive reports whether the events' IDs follow one another.
func consecutive(events []*store.Event) bool {
	for i := 1; i < len(events); i++ {
		if events[i].ID != events[i-1].ID+1 {
			return false
		}
	}
	return true
}

// expandChunks rewrites every chunk as one row per event: what schema
// version 3 reads, before migration 4 is reverted.
func expandChunks(w *wtx) error {
	rows, err := w.s.wconn.QueryContext(w.ctx, `SELECT run_id, id, first_id, chunk FROM history WHERE chunk IS NOT NULL`)
	if err != nil {
		return err
	}
	type chunkRow struct {
		runID     string
		id, first int64
		chunk     []byte
	}
	var chunks []chunkRow
	for rows.Next() {
		var c chunkRow
		if err := rows.Scan(&c.runID, &c.id, &c.first, &c.chunk); err != nil {
			_ = rows.Close()
			return err
		}
		chunks = append(chunks, c)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	for _, c := range chunks {
		events, err := decodeChunk(nil, c.chunk, c.first, 0, -1)
		if err != nil {
			return fmt.Errorf("run %s, events %d-%d: %w", c.runID, c.first, c.id, err)
		}
		if _, err := w.s.wconn.ExecContext(w.ctx, `DELETE FROM history WHERE run_id = ? AND id = ?`, c.runID, c.id); err != nil {
			return err
		}
		for _, e := range events {
			if _, err := w.s.wconn.ExecContext(w.ctx, `INSERT INTO history (run_id, id, type, time, data) VALUES (?, ?, ?, ?, ?)`,
				c.runID, e.ID, e.Type, micros(e.Time), blob(e.Data)); err != nil {
				return err
			}
		}
	}
	return nil
}
