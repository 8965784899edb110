package bench

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Point is one offered rate of a sweep.
type Point struct {
	Offered float64
	Result  *Result
}

// Sweep runs the pipeline at each offered rate (open loop) and returns the
// throughput-latency curve. The references are measured once, on the first
// point.
func Sweep(ctx context.Context, cfg Config, rates []float64) ([]Point, error) {
	var pts []Point
	for i, r := range rates {
		c := cfg
		c.Rate, c.NoRefs, c.Recovery, c.Proofs = r, i > 0, false, false
		res, err := Run(ctx, c)
		if err != nil {
			return pts, fmt.Errorf("bench: sweep at %.0f tx/s: %w", r, err)
		}
		pts = append(pts, Point{Offered: r, Result: res})
	}
	return pts, nil
}

// WriteCSV writes offered, committed, acked tx/s and finality percentiles.
func WriteCSV(w io.Writer, pts []Point) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"offered_tps", "committed_tps", "acked_tps", "p50_ms", "p95_ms", "p99_ms", "max_ms"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
	for _, p := range pts {
		r := p.Result
		_ = cw.Write([]string{f(p.Offered), f(r.CommittedTPS), f(r.AckedTPS), f(r.Finality.P50), f(r.Finality.P95), f(r.Finality.P99), f(r.Finality.Max)})
	}
	cw.Flush()
	return cw.Error()
}

// WriteSVG draws committed tx/s (x) against finality p50 and p99 (y).
func WriteSVG(w io.Writer, pts []Point) error {
	const W, H, pad = 640.0, 400.0, 60.0
	var maxX, maxY float64
	for _, p := range pts {
		maxX = max(maxX, p.Result.CommittedTPS, p.Offered)
		maxY = max(maxY, p.Result.Finality.P99)
	}
	maxX, maxY = max(maxX, 1)*1.05, max(maxY, 1)*1.1
	x := func(v float64) float64 { return pad + v/maxX*(W-2*pad) }
	y := func(v float64) float64 { return H - pad - v/maxY*(H-2*pad) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", W, H)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`+"\n", pad, H-pad, W-pad, H-pad)
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>`+"\n", pad, pad, pad, H-pad)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle">committed tx/s</text>`+"\n", W/2, H-15)
	fmt.Fprintf(&b, `<text x="15" y="%.0f" transform="rotate(-90 15 %.0f)" text-anchor="middle">finality (ms)</text>`+"\n", H/2, H/2)
	for i := 0; i <= 4; i++ {
		vx, vy := maxX*float64(i)/4, maxY*float64(i)/4
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle">%.0f</text>`+"\n", x(vx), H-pad+16, vx)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="end">%.0f</text>`+"\n", pad-5, y(vy)+4, vy)
	}
	for _, s := range []struct {
		name, color string
		get         func(*Result) float64
	}{{"p50", "steelblue", func(r *Result) float64 { return r.Finality.P50 }}, {"p99", "firebrick", func(r *Result) float64 { return r.Finality.P99 }}} {
		var path []string
		for _, p := range pts {
			path = append(path, fmt.Sprintf("%.1f,%.1f", x(p.Result.CommittedTPS), y(s.get(p.Result))))
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", x(p.Result.CommittedTPS), y(s.get(p.Result)), s.color)
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s"/>`+"\n", strings.Join(path, " "), s.color)
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" fill="steelblue">p50</text><text x="%.0f" y="%.0f" fill="firebrick">p99</text>`+"\n", W-pad-60, pad, W-pad-30, pad)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
