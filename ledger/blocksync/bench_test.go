package blocksync_test

import (
	"context"
	"testing"
	"time"
)

// BenchmarkRequest measures what one request costs the client over a real
// embedded NATS server: a status request (one reply message), and a blocks
// request for five records (six messages). Its allocs/op and B/op are the
// figures that matter: a request should allocate what it receives, not a
// subscription's buffers.
func BenchmarkRequest(b *testing.B) {
	w := newWorld(b)
	o := w.cons.Bundle.Orderers
	w.serve(o[0], 5, nil)
	c := w.client(o[1], 5*time.Second)
	ctx := context.Background()
	b.Run("status", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if h, err := c.Status(ctx, o[0]); err != nil || h != 5 {
				b.Fatalf("status %d, %v", h, err)
			}
		}
	})
	b.Run("records", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			n, err := c.Records(ctx, o[0], 1, 5, func(uint64, []byte) error { return nil })
			if err != nil || n != 5 {
				b.Fatalf("records %d, %v", n, err)
			}
		}
	})
}
