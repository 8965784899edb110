package bench

import (
	"bytes"
	"context"
	"os"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// PeakMemory says when the pipeline's resident set was largest and what
// held it: the Go runtime's own memory (heap, stacks, its metadata) and
// the rest, which is memory the runtime does not know of (pebble's cgo
// block cache and memtables, the C side of anything else). It comes from
// samples every peakSampleEvery, so it can miss a spike shorter than that;
// RSSPeakBytes (VmHWM) is exact.
type PeakMemory struct {
	// RSSBytes is the largest sampled resident set.
	RSSBytes int64 `json:"rss_bytes"`
	// Phase is what the pipeline was doing then: "start", "load",
	// "drain", "proofs", "recovery".
	Phase string `json:"phase"`
	// AtS is when, in seconds from the system's start.
	AtS float64 `json:"at_s"`
	// GoBytes is the Go runtime's mapped memory at the sample
	// (/memory/classes/total:bytes less what it has released to the
	// system); GoHeapBytes the heap objects within it, live and not yet
	// swept.
	GoBytes     int64 `json:"go_bytes"`
	GoHeapBytes int64 `json:"go_heap_bytes"`
	// OtherBytes is RSSBytes less GoBytes: memory outside the Go
	// runtime (cgo), less pages of the Go runtime not resident.
	OtherBytes int64 `json:"other_bytes"`
}

// peakSampleEvery is how often the peak watch reads the resident set: a
// read of /proc/self/statm and three runtime metrics, a few microseconds.
const peakSampleEvery = 100 * time.Millisecond

// peakProfileStep is how much a new peak must exceed the one of the last
// heap profile before another is taken: a heap profile of this process
// takes a few milliseconds to write.
const peakProfileStep = 8 << 20

// peakWatch samples the process's resident set while the pipeline runs
// and keeps the largest sample, with a heap profile taken then if asked.
// Its goroutine is the only writer of peak and prof; phase is set by the
// pipeline's goroutine. stop returns the result.
type peakWatch struct {
	phase   atomic.Pointer[string]
	start   time.Time
	profile bool

	mu   sync.Mutex
	peak PeakMemory
	prof []byte // heap profile at the last peak that grew by peakProfileStep

	done chan struct{}
	quit context.CancelFunc
}

func startPeakWatch(ctx context.Context, profile bool) *peakWatch {
	ctx, quit := context.WithCancel(ctx)
	w := &peakWatch{start: time.Now(), profile: profile, done: make(chan struct{}), quit: quit}
	w.setPhase("start")
	go w.run(ctx)
	return w
}

func (w *peakWatch) setPhase(p string) { w.phase.Store(&p) }

func (w *peakWatch) run(ctx context.Context) {
	defer close(w.done)
	samples := []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
	}
	t := time.NewTicker(peakSampleEvery)
	defer t.Stop()
	var profiled int64
	var buf bytes.Buffer
	for {
		rss := residentBytes()
		w.mu.Lock()
		if rss > w.peak.RSSBytes {
			metrics.Read(samples)
			goBytes := int64(samples[0].Value.Uint64() - samples[1].Value.Uint64())
			w.peak = PeakMemory{RSSBytes: rss, Phase: *w.phase.Load(), AtS: time.Since(w.start).Seconds(),
				GoBytes: goBytes, GoHeapBytes: int64(samples[2].Value.Uint64()), OtherBytes: rss - goBytes}
			if w.profile && rss >= profiled+peakProfileStep {
				buf.Reset()
				if pprof.Lookup("heap").WriteTo(&buf, 0) == nil {
					w.prof = bytes.Clone(buf.Bytes())
					profiled = rss
				}
			}
		}
		w.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// stop ends the watch and returns the peak and the heap profile taken at
// it (nil unless asked for).
func (w *peakWatch) stop() (PeakMemory, []byte) {
	w.quit()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.peak, w.prof
}

// residentBytes is the process's resident set now, from /proc/self/statm
// (Linux); 0 elsewhere.
func residentBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}
