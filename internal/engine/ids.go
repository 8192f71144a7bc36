package engine

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// newID returns a new instance or run id: a UUID of version 7 (RFC 9562),
// whose first 48 bits are the Unix time in milliseconds and whose next 12
// bits are the fraction of that millisecond, followed by 62 random bits.
//
// Ids made later sort after those made earlier (to a quarter of a
// microsecond, on one clock), so the rows a new run adds go to the right
// end of every index keyed by its id (the run's own, its history's and its
// activity tasks'): the same few leaf pages stay hot and are split only at
// the end, instead of a random leaf of an index that grows with every run
// ever kept — pages a commit writes, and on a large database reads first.
// Nothing relies on the order: a clock set back only costs that locality.
// The 62 random bits keep ids unique and unguessable.
func newID() string { return formatID(newIDBytes(time.Now())) }

func newIDBytes(now time.Time) [16]byte {
	var b [16]byte
	_, _ = rand.Read(b[8:])
	ms := uint64(now.UnixMilli())
	frac := uint64(now.Nanosecond()%int(time.Millisecond)) << 12 / uint64(time.Millisecond)
	for i := range 6 {
		b[i] = byte(ms >> (40 - 8*i))
	}
	b[6] = 0x70 | byte(frac>>8) // version 7
	b[7] = byte(frac)
	b[8] = b[8]&0x3f | 0x80 // variant 10
	return b
}

// formatID spells b as a UUID: 8-4-4-4-12 lower-case hex digits.
func formatID(b [16]byte) string {
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}
