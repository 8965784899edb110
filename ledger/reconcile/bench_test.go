package reconcile

import (
	"context"
	"flag"
	"testing"
)

var benchRows = flag.Int("reconcile.rows", 1_000_000, "licenses in BenchmarkReconcile's fixture")

// TestFixture runs the benchmark's pipeline on a small fixture: the
// injected differences are found exactly.
func TestFixture(t *testing.T) {
	res, err := RunBench(context.Background(), BenchConfig{Fixture: FixtureConfig{Dir: t.TempDir(), Licenses: 5000, DiffEvery: 500}, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Counts{LedgerOnly: 10, RegisterOnly: 10, Fields: 10, Status: 10, Invalid: 10, Total: 50}); res.Summary.Differences != want {
		t.Fatalf("found %+v, want %+v", res.Summary.Differences, want)
	}
	if res.Rows != 5000-10+10+10 || res.Summary.FastRows < 4900 {
		t.Fatalf("rows %d, fast %d", res.Rows, res.Summary.FastRows)
	}
}

// BenchmarkReconcile reconciles a register of -reconcile.rows rows (default
// 1,000,000) against a ledger of as many licenses, read in place, and
// reports rows/s and peak memory. Not part of the default tests: run
//
//	go test ./ledger/reconcile -run '^$' -bench Reconcile -benchtime 1x
func BenchmarkReconcile(b *testing.B) {
	for b.Loop() {
		res, err := RunBench(context.Background(), BenchConfig{Fixture: FixtureConfig{Dir: b.TempDir(), Licenses: *benchRows}})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.RowsPerSecond, "rows/s")
		b.ReportMetric(float64(res.PeakRSSBytes)/(1<<20), "peak-RSS-MiB")
		b.ReportMetric(float64(res.PeakHeapBytes)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(res.SetupSeconds, "setup-s")
		b.ReportMetric(res.CPUSeconds, "cpu-s")
		s := res.Summary.Seconds
		c := res.Summary.CPUSeconds
		b.Logf("%d rows, %d ledger txs in %d blocks: %.1fs (ledger %.1fs, register %.1fs, compare %.1fs), %.0f rows/s, %.1f CPU s (ledger %.1f, register %.1f, compare %.1f; %.0f rows per CPU s), load %.1f, fast %d, peak RSS %d MiB (reset %v), peak heap %d MiB",
			res.Rows, res.LedgerTxs, res.Blocks, res.Seconds, s.Ledger, s.Register, s.Compare, res.RowsPerSecond, res.CPUSeconds, c.Ledger, c.Register, c.Compare,
			float64(res.Rows)/res.CPUSeconds, res.LoadAverage, res.Summary.FastRows, res.PeakRSSBytes>>20, res.RSSReset, res.PeakHeapBytes>>20)
	}
}
