package reconcile

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Meter is a run's progress: the phase under way and how far it is. Run
// updates it; a display (Progress) reads it from another goroutine. A nil
// *Meter ignores updates.
type Meter struct {
	mu sync.Mutex
	s  MeterState
}

// MeterState is a snapshot of a Meter.
type MeterState struct {
	Phase      string // ledger, register, compare, details, repair, done
	Unit       string // blocks, rows, licenses, events
	Done       int64
	Total      int64 // 0 if unknown
	Bytes      int64 // input bytes consumed (the register)
	TotalBytes int64 // 0 if unknown
	Started    time.Time
}

func (m *Meter) phase(name, unit string, total, totalBytes int64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.s = MeterState{Phase: name, Unit: unit, Total: total, TotalBytes: totalBytes, Started: time.Now()}
	m.mu.Unlock()
}

func (m *Meter) add(n, bytes int64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.s.Done += n
	m.s.Bytes += bytes
	m.mu.Unlock()
}

func (m *Meter) set(done, bytes int64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.s.Done = done
	if bytes > 0 {
		m.s.Bytes = bytes
	}
	m.mu.Unlock()
}

// State returns a snapshot.
func (m *Meter) State() MeterState {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.s
}

// Progress shows a Meter: on a terminal, a bar redrawn in place (rate,
// percentage, ETA); elsewhere, a plain log line every Every.
type Progress struct {
	Meter    *Meter
	W        io.Writer
	Terminal bool
	// Every is the time between log lines (not on a terminal). Default 5 s.
	Every time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time

	mu       sync.Mutex
	lastLine time.Time
	lastLen  int
	phase    string
}

// Run draws until ctx is done, then ends the line. It owns the writer.
func (p *Progress) Run(ctx context.Context) {
	tick := 200 * time.Millisecond
	if !p.Terminal {
		tick = time.Second
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			p.Finish()
			return
		case <-t.C:
			p.Tick()
		}
	}
}

func (p *Progress) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Tick draws the meter's state once (on a terminal), or writes a log line
// if Every has passed or the phase changed (elsewhere).
func (p *Progress) Tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.Meter.State()
	if s.Phase == "" {
		return
	}
	now := p.now()
	every := p.Every
	if every <= 0 {
		every = 5 * time.Second
	}
	if p.Terminal {
		if s.Phase != p.phase && p.phase != "" {
			fmt.Fprintln(p.W)
			p.lastLen = 0
		}
		p.phase = s.Phase
		line := Render(s, now, 24)
		pad := ""
		if n := len([]rune(line)); n < p.lastLen {
			pad = strings.Repeat(" ", p.lastLen-n)
		}
		p.lastLen = len([]rune(line))
		fmt.Fprintf(p.W, "\r%s%s", line, pad)
		return
	}
	if s.Phase == p.phase && now.Sub(p.lastLine) < every {
		return
	}
	p.phase, p.lastLine = s.Phase, now
	fmt.Fprintln(p.W, "reconcile: "+Render(s, now, 0))
}

// Finish ends a terminal's line.
func (p *Progress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.Terminal && p.lastLen > 0 {
		fmt.Fprintln(p.W)
		p.lastLen = 0
	}
}

// Render formats a meter state: "register  523,411 rows  61,234 rows/s
// 48% ETA 0:08", with a bar of width cells (0: none).
func Render(s MeterState, now time.Time, width int) string {
	var b strings.Builder
	b.WriteString(s.Phase)
	elapsed := now.Sub(s.Started)
	if s.Phase == "done" {
		return b.String()
	}
	frac := -1.0
	switch {
	case s.TotalBytes > 0:
		frac = float64(s.Bytes) / float64(s.TotalBytes)
	case s.Total > 0:
		frac = float64(s.Done) / float64(s.Total)
	}
	if width > 0 && frac >= 0 {
		filled := int(min(frac, 1) * float64(width))
		fmt.Fprintf(&b, " [%s%s]", strings.Repeat("=", filled), strings.Repeat(" ", width-filled))
	}
	fmt.Fprintf(&b, " %s %s", Thousands(s.Done), s.Unit)
	if s.Total > 0 && s.TotalBytes == 0 {
		fmt.Fprintf(&b, " of %s", Thousands(s.Total))
	}
	if elapsed > 0 && s.Done > 0 {
		rate := float64(s.Done) / elapsed.Seconds()
		fmt.Fprintf(&b, ", %s %s/s", Thousands(int64(rate)), s.Unit)
	}
	if frac > 0 {
		fmt.Fprintf(&b, ", %d%%", int(min(frac, 1)*100))
		if frac < 1 && elapsed > 0 {
			eta := time.Duration(float64(elapsed) * (1 - frac) / frac)
			fmt.Fprintf(&b, ", ETA %s", clock(eta))
		}
	}
	return b.String()
}

func clock(d time.Duration) string {
	s := int64(d.Round(time.Second).Seconds())
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// Thousands writes n with commas: 1,234,567.
func Thousands(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
