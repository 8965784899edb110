package system

import "testing"

// TestMemTablesDifferAmongAQuorum: any four orderers in a row (a quorum
// and one more) get memtables of four different sizes, so their flushes
// drift apart, and each stays within 6–9 MiB (pebble's memory is outside
// the Go heap and counts against the process's RSS).
func TestMemTablesDifferAmongAQuorum(t *testing.T) {
	for first := range 8 {
		seen := map[uint64]bool{}
		for i := first; i < first+4; i++ {
			m := memTable(i)
			if m < 6<<20 || m > 9<<20 {
				t.Errorf("memTable(%d) = %d MiB", i, m>>20)
			}
			seen[m] = true
		}
		if len(seen) != 4 {
			t.Errorf("orderers %d to %d share memtable sizes: %v", first, first+3, seen)
		}
	}
}
