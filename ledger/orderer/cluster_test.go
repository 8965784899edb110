package orderer

import (
	"fmt"
	"testing"
	"time"
)

func TestClusterSealsBatches(t *testing.T) {
	sizes := []int{4, 5, 7}
	if *long {
		sizes = append(sizes, 11)
	}
	for _, n := range sizes {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			c := newCluster(t, n)
			c.startAll()
			c.load(scale(60), 20, 0, nil)
			c.waitSealed(60 * time.Second)
			c.checkChains()
			c.waitAcked(20 * time.Second)
			c.checkPublished(c.running()[0].Height())
			t.Logf("height %d, stats %+v", c.running()[0].Height(), c.running()[0].Stats())
		})
	}
}
