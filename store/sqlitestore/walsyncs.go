package sqlitestore

import (
	"sync/atomic"
	"time"
)

// WAL fsyncs are timed by the writer's VFS (walvfs.go): a durable commit
// waits for one, and on most disks it is most of the commit, so what they
// took tells how much of a latency is the disk's. perdure bench reports
// the median of those made during its one-at-a-time runs, and a node
// exports them all as perdure_wal_fsync_seconds (WALSyncHistogram).

// walSyncBucket is the width of a bucket of walSyncHist; the last bucket
// also counts every fsync longer than the histogram.
const (
	walSyncBucket  = 5 * time.Microsecond
	walSyncBuckets = 1000 // up to 5 ms
)

// walSyncHist counts the WAL fsyncs of this process that succeeded, by
// duration; walSyncTotal is their total time.
var (
	walSyncHist  [walSyncBuckets]atomic.Int64
	walSyncTotal atomic.Int64
)

func recordWALSync(d time.Duration) {
	walSyncTotal.Add(int64(d))
	walSyncHist[min(max(int(d/walSyncBucket), 0), walSyncBuckets-1)].Add(1)
}

// WALSyncs is a count of the fsyncs of WAL files that every store of this
// process made (ReadWALSyncs), by duration.
type WALSyncs struct {
	hist  [walSyncBuckets]int64
	total time.Duration
}

// ReadWALSyncs returns the WAL fsyncs counted so far; the difference of
// two readings (Since) is what was made between them.
func ReadWALSyncs() *WALSyncs {
	s := new(WALSyncs)
	for i := range s.hist {
		s.hist[i] = walSyncHist[i].Load()
	}
	s.total = time.Duration(walSyncTotal.Load())
	return s
}

// WALSyncTime is the time the WAL fsyncs of every store of this process
// have taken so far, as ReadWALSyncs().Total() but without reading the
// counts: the difference of two readings is the time spent in the fsyncs
// made between them.
func WALSyncTime() time.Duration { return time.Duration(walSyncTotal.Load()) }

// Since returns the fsyncs of s that earlier had not counted.
func (s *WALSyncs) Since(earlier *WALSyncs) *WALSyncs {
	d := new(WALSyncs)
	for i := range d.hist {
		d.hist[i] = s.hist[i] - earlier.hist[i]
	}
	d.total = s.total - earlier.total
	return d
}

// Total is the time the fsyncs took together.
func (s *WALSyncs) Total() time.Duration { return s.total }

// AtMost is the number of fsyncs that took at most d, for d a multiple
// of 5 µs under 5 ms (the histogram's resolution and reach); longer
// durations count every fsync.
func (s *WALSyncs) AtMost(d time.Duration) int64 {
	var n int64
	for i, c := range s.hist {
		if i < walSyncBuckets-1 && time.Duration(i+1)*walSyncBucket > d {
			break
		}
		n += c
	}
	return n
}

// Count is the number of fsyncs.
func (s *WALSyncs) Count() int64 {
	var n int64
	for _, c := range s.hist {
		n += c
	}
	return n
}

// Median is the median duration, to within half a bucket (2.5 µs); 0
// when there are none. A median past the histogram reads as its last
// bucket.
func (s *WALSyncs) Median() time.Duration {
	n := s.Count()
	if n == 0 {
		return 0
	}
	rank := (n + 1) / 2 // nearest rank
	var seen int64
	for i, c := range s.hist {
		if seen += c; seen >= rank {
			return time.Duration(i)*walSyncBucket + walSyncBucket/2
		}
	}
	return 0 // not reached
}

// WALSyncHistogram reports the WAL fsyncs of every store of this process
// (see ReadWALSyncs) for a metrics histogram: how many took at most each
// of bounds, how many there were and their total time.
func (s *Store) WALSyncHistogram(bounds []time.Duration) (atMost []uint64, count uint64, total time.Duration) {
	w := ReadWALSyncs()
	for _, b := range bounds {
		atMost = append(atMost, uint64(w.AtMost(b)))
	}
	return atMost, uint64(w.Count()), w.Total()
}
