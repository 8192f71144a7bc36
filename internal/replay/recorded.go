package replay

import "github.com/perdure/perdure/internal/history"

// steps holds the command events of a replayed history that the code has
// not asked for again yet, by step number. Steps are numbered 1, 2, 3… in
// the order the code issued them, so they are kept in a slice indexed by
// step; a step number outside the history's length (only a damaged history
// has one) goes to a map.
type steps struct {
	dense  []*history.Event
	sparse map[int64]*history.Event
	n      int
}

// add records ev, of a history of size events.
func (s *steps) add(ev *history.Event, size int) {
	if ev.Seq >= 1 && ev.Seq <= int64(size) {
		if s.dense == nil {
			s.dense = make([]*history.Event, size+1)
		}
		if int(ev.Seq) >= len(s.dense) {
			s.dense = append(s.dense, make([]*history.Event, int(ev.Seq)+1-len(s.dense))...)
		}
		if s.dense[ev.Seq] == nil {
			s.n++
		}
		s.dense[ev.Seq] = ev
		return
	}
	if s.sparse == nil {
		s.sparse = map[int64]*history.Event{}
	}
	if _, ok := s.sparse[ev.Seq]; !ok {
		s.n++
	}
	s.sparse[ev.Seq] = ev
}

func (s *steps) get(seq int64) *history.Event {
	if seq >= 1 && seq < int64(len(s.dense)) {
		return s.dense[seq]
	}
	return s.sparse[seq]
}

// take removes and returns the event of step seq, or nil.
func (s *steps) take(seq int64) *history.Event {
	var ev *history.Event
	if seq >= 1 && seq < int64(len(s.dense)) {
		ev, s.dense[seq] = s.dense[seq], nil
	} else if ev = s.sparse[seq]; ev != nil {
		delete(s.sparse, seq)
	}
	if ev != nil {
		s.n--
	}
	return ev
}

func (s *steps) len() int { return s.n }

// first returns the lowest step left, or nil.
func (s *steps) first() *history.Event {
	var first *history.Event
	for _, ev := range s.dense {
		if ev != nil {
			first = ev
			break
		}
	}
	for _, ev := range s.sparse {
		if first == nil || ev.Seq < first.Seq {
			first = ev
		}
	}
	return first
}
