package state

import (
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/baybus/baybus/ledger/state/smt"
)

var (
	benchKeys   = flag.Int("state.benchkeys", 1_000_000, "licenses in the store the benchmarks run on")
	benchLevels = flag.Int("state.cachedlevels", 0, "Options.CachedLevels for the benchmark store")
	benchDir    = flag.String("state.benchdir", "", "keep the benchmark store in this directory and reuse it (default: a new one each run)")
)

func benchKey(i int) string {
	return fmt.Sprintf("%s/91440300%010dX", jurisdictions[i%3], i)
}

func dirSize(b *testing.B, dir string) int64 {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkStore builds one store of -state.benchkeys licenses (1M by
// default: about a minute) and runs the sub-benchmarks on it:
//
//	go test ./ledger/state/ -run '^$' -bench Store -benchtime 100x
func BenchmarkStore(b *testing.B) {
	dir := *benchDir
	if dir == "" {
		dir = b.TempDir()
	}
	s, err := Open(dir, Options{CachedLevels: *benchLevels})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rnd := rand.New(rand.NewPCG(1, 2))
	n := *benchKeys
	const buildBlock = 50_000
	start := time.Now()
	height := s.Height()
	if s.Len() == 0 {
		for i := 0; i < n; i += buildBlock {
			ups := make([]Update, 0, buildBlock)
			for j := i; j < min(i+buildBlock, n); j++ {
				ups = append(ups, randUpdate(benchKey(j), rnd))
			}
			height++
			if _, err := s.Apply(height, ups); err != nil {
				b.Fatal(err)
			}
		}
		b.Logf("built %d licenses in %v (%.0f/s, blocks of %d)", n, time.Since(start).Round(time.Millisecond),
			float64(n)/time.Since(start).Seconds(), buildBlock)
	}
	n = int(s.Len())
	if err := s.db.Flush(); err != nil {
		b.Fatal(err)
	}
	before := s.db.Metrics().DiskSpaceUsage()
	// Compact everything so that old versions of rewritten pages are gone:
	// what remains is what the licenses need.
	if err := s.db.Compact([]byte{0}, []byte{0xff}, true); err != nil {
		b.Fatal(err)
	}
	pageBytes, _ := s.db.EstimateDiskUsage([]byte{pagePrefix}, []byte{pagePrefix + 1})
	histBytes, _ := s.db.EstimateDiskUsage([]byte{historyPrefix}, []byte{historyPrefix + 1})
	b.Logf("%d licenses at height %d: disk %.1f B/license compacted (tree %.1f, history %.1f), %.1f before compaction, %.1f in the directory",
		n, s.Height(), float64(s.db.Metrics().DiskSpaceUsage())/float64(n), float64(pageBytes)/float64(n),
		float64(histBytes)/float64(n), float64(before)/float64(n), float64(dirSize(b, dir))/float64(n))

	b.Run("Apply1000", func(b *testing.B) {
		// Each block: 500 changes to existing licenses, 500 new ones.
		next := n
		c0 := cpuTime()
		b.ResetTimer()
		for range b.N {
			ups := make([]Update, 0, 1000)
			for range 500 {
				ups = append(ups, randUpdate(benchKey(rnd.IntN(n)), rnd))
			}
			for range 500 {
				ups = append(ups, randUpdate(benchKey(next), rnd))
				next++
			}
			ups = dedup(ups)
			height++
			if _, err := s.Apply(height, ups); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(1000*b.N)/b.Elapsed().Seconds(), "updates/s")
		// CPU time of the whole process (pebble's compactions included): a
		// figure that other load on the machine disturbs less than wall time.
		b.ReportMetric(float64(cpuTime()-c0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/block")
		if testing.Verbose() {
			b.Logf("pebble after %d blocks:\n%s", b.N, s.db.Metrics())
		}
	})

	var proofs []*Proof
	var keys []string
	b.Run("Prove", func(b *testing.B) {
		var hashes, bytes int
		for i := range b.N {
			key := benchKey(rnd.IntN(n))
			l, p, err := s.Prove(key)
			if err != nil || l == nil {
				b.Fatal(l, err)
			}
			enc, _ := p.MarshalBinary()
			hashes += len(p.Siblings)
			bytes += len(enc)
			if i < 1000 {
				proofs, keys = append(proofs, p), append(keys, key)
			}
		}
		b.ReportMetric(float64(hashes)/float64(b.N), "hashes/proof")
		b.ReportMetric(float64(bytes)/float64(b.N), "bytes/proof")
	})

	b.Run("VerifyProof", func(b *testing.B) {
		root := s.Root()
		leaves := make([]*Leaf, len(keys))
		for i, k := range keys {
			leaves[i], _ = s.Get(k)
		}
		b.ResetTimer()
		for i := range b.N {
			j := i % len(keys)
			if err := smt.VerifyProof(root, keys[j], leaves[j], proofs[j]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func dedup(ups []Update) []Update {
	seen := map[string]bool{}
	out := ups[:0]
	for _, u := range ups {
		if !seen[u.Key] {
			seen[u.Key] = true
			out = append(out, u)
		}
	}
	return out
}
