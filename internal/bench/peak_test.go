package bench

import (
	"bytes"
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

// TestPeakWatch: the watch keeps the largest sample with the phase it was
// taken in, splits it into the Go runtime's share and the rest, and takes
// a heap profile at it when asked.
func TestPeakWatch(t *testing.T) {
	if residentBytes() == 0 {
		t.Skip("no /proc/self/statm")
	}
	w := startPeakWatch(context.Background(), true)
	w.setPhase("load")
	// 64 MiB touched, so the resident set grows past the start's samples.
	big := make([]byte, 64<<20)
	for i := range big {
		big[i] = byte(i)
	}
	time.Sleep(3 * peakSampleEvery)
	peak, heap := w.stop()
	runtime.KeepAlive(big)
	if peak.Phase != "load" {
		t.Errorf("peak in phase %q, want load", peak.Phase)
	}
	if peak.RSSBytes < 64<<20 || peak.GoHeapBytes < 64<<20 || peak.GoBytes < peak.GoHeapBytes {
		t.Errorf("peak %+v: want at least 64 MiB resident, in the Go heap, within the Go runtime's memory", peak)
	}
	if peak.OtherBytes != peak.RSSBytes-peak.GoBytes {
		t.Errorf("other %d, want RSS less Go: %d", peak.OtherBytes, peak.RSSBytes-peak.GoBytes)
	}
	p, err := profile.Parse(bytes.NewReader(heap))
	if err != nil {
		t.Fatalf("heap profile at the peak: %v", err)
	}
	if len(p.Sample) == 0 {
		t.Error("heap profile at the peak has no samples")
	}
	if _, heap := startPeakWatch(context.Background(), false).stop(); heap != nil {
		t.Error("a watch not asked for a profile took one")
	}
}
