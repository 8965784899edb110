package orderer

import (
	"fmt"
	"testing"
	"time"

	"github.com/baybus/baybus/schemas"
)

// BenchmarkCluster measures sealing throughput of n orderers in one
// process: b.N batches of 256 transactions, published as fast as JetStream
// takes them, until every orderer has sealed them all. All orderers share
// this machine's cores, so the figure is a floor for separate machines.
func BenchmarkCluster(b *testing.B) {
	for _, n := range []int{4, 7} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			c := newCluster(b, n)
			c.engine.BlockMaxBatches = 64
			c.engine.BlockInterval = 10 * time.Millisecond
			// Production-like failure timeouts: a busy machine must not
			// look like a failed leader.
			c.engine.ForwardTimeout = 5 * time.Second
			c.engine.ComplainTimeout = 20 * time.Second
			c.engine.HeartbeatTimeout = 20 * time.Second
			c.engine.ViewChangeTimeout = 30 * time.Second
			c.engine.Tick = 100 * time.Millisecond
			c.startAll()
			batches := make([]*schemas.Batch, 0, b.N)
			for i := 0; i < b.N; i++ {
				batches = append(batches, c.batch(testCities[i%len(testCities)], 256))
			}
			b.ResetTimer()
			start := time.Now()
			for _, bt := range batches {
				c.publish(bt)
			}
			c.waitSealed(10 * time.Minute)
			d := time.Since(start)
			b.ReportMetric(float64(b.N*256)/d.Seconds(), "tx/s")
			b.ReportMetric(float64(c.running()[0].Height()), "blocks")
		})
	}
}
