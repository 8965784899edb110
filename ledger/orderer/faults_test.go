package orderer

import (
	"fmt"
	"testing"
	"time"
)

func clusterSizes() []int {
	if *long {
		return []int{4, 5, 7}
	}
	return []int{4, 7}
}

// f orderers crash; the rest keep sealing; the crashed ones restart and
// catch up by sync.
func TestCrashedOrderersCatchUp(t *testing.T) {
	for _, n := range clusterSizes() {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			c := newCluster(t, n)
			c.startAll()
			c.load(20, 10, 0, nil)
			c.waitSealed(60 * time.Second)

			f := c.cons.Bundle.F()
			crashed := c.names[n-f:]
			for _, name := range crashed {
				c.stop(name)
			}
			before := c.running()[0].Height()
			c.load(scale(30), 10, 0, nil)
			c.waitSealed(60 * time.Second)
			if h := c.running()[0].Height(); h <= before {
				t.Fatalf("no progress with %d of %d orderers: height %d", n-f, n, h)
			}
			c.checkChains()

			for _, name := range crashed {
				c.start(name)
			}
			c.waitHeight(c.running()[0].Height(), 60*time.Second)
			c.load(10, 10, 0, nil)
			c.waitSealed(60 * time.Second)
			c.checkChains()
			c.waitAcked(30 * time.Second)
			for _, name := range crashed {
				if s := c.node(name).Stats(); s.Synced == 0 {
					t.Errorf("%s caught up without syncing blocks: %+v", name, s)
				}
			}
		})
	}
}

// The leader crashes while batches arrive: a view change follows and no
// transaction is lost or sealed twice.
func TestLeaderCrashMidLoad(t *testing.T) {
	n := 4
	if *long {
		n = 7
	}
	c := newCluster(t, n)
	c.startAll()
	c.load(5, 10, 0, nil)
	c.waitSealed(30 * time.Second)

	done := make(chan struct{})
	go func() {
		defer close(done)
		c.load(scale(80), 10, 5*time.Millisecond, nil)
	}()
	time.Sleep(150 * time.Millisecond)
	leader := c.leader()
	if leader == "" {
		t.Fatal("no leader")
	}
	c.stop(leader)
	<-done
	c.waitSealed(90 * time.Second)
	c.checkChains()
	if l := c.leader(); l == leader || l == "" {
		t.Fatalf("leader after crash: %q (crashed %q)", l, leader)
	}

	c.start(leader)
	c.waitHeight(c.running()[0].Height(), 60*time.Second)
	c.load(5, 10, 0, nil)
	c.waitSealed(60 * time.Second)
	c.checkChains()
	c.waitAcked(30 * time.Second)
}

// A transaction retried inside another batch, a batch republished under a
// new message id, and batches that are not validly signed for their subject
// are all handled: each transaction is sealed once, bad batches are refused.
func TestDuplicatesAndBadBatches(t *testing.T) {
	c := newCluster(t, 4)
	c.startAll()
	first := c.batch("shenzhen", 5)
	c.publish(first)
	c.waitSealed(30 * time.Second)
	h := c.running()[0].Height()

	// The same batch again under another message id: already ordered.
	c.publishRaw(first.City, "again-"+first.ID(), first.Encode())
	// Two of its transactions retried inside a new batch: sealed as Duplicate.
	retry := c.batch("shenzhen", 3, first.Txs[0], first.Txs[1])
	c.publish(retry)
	// A batch signed by Shenzhen published on Macao's subject is refused,
	// and so is a frame that is not a batch.
	c.cityJS("macao")
	forged := c.batch("shenzhen", 2)
	c.conn("city-macao").Publish("gba.tx.macao", forged.Encode()) // bypasses JetStream acks on purpose
	c.publishRaw("macao", "junk", []byte("not a batch"))
	c.waitSealed(30 * time.Second)
	c.checkChains()
	c.waitAcked(20 * time.Second)

	n := c.running()[0]
	loc, ok := n.Lookup(first.IDs[0])
	if !ok || loc.Height > h {
		t.Fatalf("retried transaction located at %+v, want its first block (<= %d)", loc, h)
	}
	for _, n := range c.running() {
		if s := n.Stats(); s.IngestBad < 1 {
			t.Errorf("%s: bad batches not counted: %+v", n.Name(), s)
		}
		for hh := uint64(1); hh <= n.Height(); hh++ {
			b, _ := n.Store().Block(hh)
			for _, bt := range b.Batches {
				if bt.ID() == forged.ID() {
					t.Fatalf("%s: forged batch sealed in block %d", n.Name(), hh)
				}
			}
		}
	}
}

// Every orderer stops, some in the middle of a block, and the whole
// cluster restarts from its block logs and engine WALs.
func TestWholeClusterRestart(t *testing.T) {
	c := newCluster(t, 4)
	c.startAll()
	c.load(20, 10, 0, nil)
	c.waitSealed(60 * time.Second)

	done := make(chan struct{})
	go func() {
		defer close(done)
		c.load(20, 10, 2*time.Millisecond, nil)
	}()
	time.Sleep(20 * time.Millisecond)
	for _, name := range c.names {
		c.stop(name)
	}
	<-done
	c.startAll()
	c.load(10, 10, 0, nil)
	c.waitSealed(90 * time.Second)
	c.checkChains()
	c.waitAcked(30 * time.Second)
}

// Blocks larger than a NATS message travel in chunks, both as proposals
// and as sync replies.
func TestBlocksLargerThanNATSMessages(t *testing.T) {
	c := newCluster(t, 4)
	// Blocks of up to twelve batches of about 120 KiB, cut by count or
	// after an interval long enough (stretched under -race) for twelve to
	// be ingested; the request timers wait longer than that. How fast a
	// busy machine ingests is not the test's business, so it publishes
	// rounds of twelve until a block outgrows a NATS message.
	const count = 12
	c.engine.BlockMaxBatches = count
	c.engine.BlockInterval = 2 * time.Second * timeScale
	c.engine.ForwardTimeout = 30 * time.Second * timeScale
	c.engine.ComplainTimeout = 30 * time.Second * timeScale
	c.load(count, 250, 0, nil) // before the orderers start
	// The followers first: hongkong leads view 0 and, holding twelve
	// batches, proposes as it starts; a proposal sent before a follower
	// subscribes is lost, and only the request timers would recover.
	for _, name := range []string{"qianhai", "macao", "hongkong"} {
		c.start(name)
	}
	n := c.running()[0]
	big := func() bool {
		for h := uint64(1); h <= n.Height(); h++ {
			raw, _ := n.Store().Raw(h)
			if len(raw) > int(c.conn(n.Name()).MaxPayload()) {
				return true
			}
		}
		return false
	}
	for round := 0; ; round++ {
		c.waitSealed(90 * time.Second)
		if big() {
			break
		}
		if round == 4 {
			t.Fatalf("no block larger than a NATS message in %d rounds of %d batches (height %d)", round+1, count, n.Height())
		}
		c.load(count, 250, 0, nil)
	}
	c.start("hengqin")
	c.waitSealed(90 * time.Second)
	c.checkChains()
	if s := c.node("hengqin").Stats(); s.Synced == 0 {
		t.Errorf("hengqin did not sync: %+v", s)
	}
}
