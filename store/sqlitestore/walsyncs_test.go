package sqlitestore

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// Every durable commit's WAL fsync is counted, with what it took.
func TestWALSyncsCounted(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "w.db"))
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	mustApply(t, s, startOp("warm", []byte(`0`), t0))
	before, beforeTime := ReadWALSyncs(), WALSyncTime()
	for i := range 20 {
		mustApply(t, s, startOp(fmt.Sprint("r", i), []byte(`1`), t0))
	}
	got, took := ReadWALSyncs().Since(before), WALSyncTime()-beforeTime
	// One fsync a commit; a WAL that starts over also syncs its header.
	if n := got.Count(); n < 20 || n > 25 {
		t.Fatalf("20 durable commits counted %d WAL fsyncs, want 20 (a few more when the WAL restarts)", n)
	}
	if m := got.Median(); m <= 0 || m > time.Second {
		t.Fatalf("median WAL fsync %v: want a positive duration under a second", m)
	}
	if tot := got.Total(); tot < 20*got.Median()/2 || tot > time.Minute {
		t.Fatalf("20 fsyncs of median %v took %v together", got.Median(), tot)
	}
	if took != got.Total() {
		t.Fatalf("WALSyncTime moved by %v, the counts' total by %v", took, got.Total())
	}
	atMost, count, total := s.WALSyncHistogram([]time.Duration{0, time.Hour})
	if atMost[0] != 0 || atMost[1] != count || count < 20 || total <= 0 {
		t.Fatalf("histogram: %v at most 0 and 1 h, %d in all, %v: want 0, all, at least 20, a positive time", atMost, count, total)
	}
}

func TestWALSyncsMedian(t *testing.T) {
	var s WALSyncs
	if s.Median() != 0 || s.Count() != 0 {
		t.Fatal("no fsyncs: want count and median 0")
	}
	s.hist[20] = 3  // 100–105 µs
	s.hist[30] = 2  // 150–155 µs
	s.hist[999] = 4 // 4.995 ms or more
	if got, want := s.Median(), 152500*time.Nanosecond; got != want {
		t.Fatalf("median of 3 + 2 + 4 fsyncs = %v, want %v", got, want)
	}
	for _, c := range []struct {
		d    time.Duration
		want int64
	}{{0, 0}, {100 * time.Microsecond, 0}, {105 * time.Microsecond, 3}, {155 * time.Microsecond, 5}, {4990 * time.Microsecond, 5}, {time.Second, 9}} {
		if got := s.AtMost(c.d); got != c.want {
			t.Errorf("AtMost(%v) = %d, want %d", c.d, got, c.want)
		}
	}
	var earlier WALSyncs
	earlier.hist[999] = 4
	d := s.Since(&earlier)
	if got, want := d.Median(), 102500*time.Nanosecond; d.Count() != 5 || got != want {
		t.Fatalf("since: %d fsyncs, median %v; want 5, %v", d.Count(), got, want)
	}
}
