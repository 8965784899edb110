package orderer

import (
	"crypto/sha256"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	protos "github.com/hyperledger-labs/SmartBFT/smartbftprotos"
	"google.golang.org/protobuf/proto"

	"github.com/baybus/baybus/ledger/bft"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
)

// byzantine decorates a real orderer's transport: the orderer itself runs
// the honest code, but what it sends is tampered with.
type byzantine struct {
	bft.Comm
	c    *cluster
	name string
	mode string

	mu   sync.Mutex
	alts map[uint64]*protos.Message // equivocation: the other proposal per sequence
	hits atomic.Int64               // messages tampered with
}

func (b *byzantine) SendConsensus(target uint64, m *protos.Message) {
	switch b.mode {
	case "silent":
		b.hits.Add(1)
		return
	case "badbatch":
		if pp := m.GetPrePrepare(); pp != nil {
			m = b.withForgedBatch(m)
		}
	case "badref":
		if pp := m.GetPrePrepare(); pp != nil {
			m = b.withOtherSignature(m)
		}
	case "equivocate":
		if pp := m.GetPrePrepare(); pp != nil && target%2 == 0 {
			m = b.alternative(m)
		}
	case "forge":
		b.forge(target, m)
	}
	b.Comm.SendConsensus(target, m)
}

func (b *byzantine) SendTransaction(target uint64, req []byte) {
	if b.mode == "silent" {
		return
	}
	b.Comm.SendTransaction(target, req)
}

// withForgedBatch adds a reference to a batch that claims Macao but is
// signed with Shenzhen's key: no orderer ingested it (GBA_TX permissions
// and ingestion keep it out), so every follower refuses the block.
func (b *byzantine) withForgedBatch(m *protos.Message) *protos.Message {
	forged := b.c.batch("macao", 2)
	bad, err := schemas.SealBatch(forged.Chain, "macao", forged.CreatedAt, forged.Seq, forged.Txs, b.c.cons.Cities["shenzhen"])
	if err != nil {
		return m
	}
	return b.tamper(m, func(r *block.Refs) {
		r.Batches = append(r.Batches, block.RefOf(bad))
		for range bad.Txs {
			r.Results = append(r.Results, block.OK)
		}
	})
}

// withOtherSignature names a batch every orderer holds, but with another
// signature hash: the followers' batch is not the one referenced.
func (b *byzantine) withOtherSignature(m *protos.Message) *protos.Message {
	return b.tamper(m, func(r *block.Refs) {
		if len(r.Batches) > 0 {
			r.Batches[0].Auth[0] ^= 1
		}
	})
}

func (b *byzantine) tamper(m *protos.Message, change func(*block.Refs)) *protos.Message {
	m = proto.Clone(m).(*protos.Message)
	p := m.GetPrePrepare().Proposal
	refs, err := block.DecodeRefs(p.Payload)
	if err != nil {
		return m
	}
	change(refs)
	p.Payload = refs.Encode()
	b.hits.Add(1)
	return m
}

// alternative is another valid block for the same sequence: the same
// batches with a later timestamp.
func (b *byzantine) alternative(m *protos.Message) *protos.Message {
	pp := m.GetPrePrepare()
	b.mu.Lock()
	defer b.mu.Unlock()
	if alt, ok := b.alts[pp.Seq]; ok {
		return alt
	}
	n := b.c.node(b.name)
	if n == nil {
		return m
	}
	refs, err := block.DecodeRefs(pp.Proposal.Payload)
	if err != nil {
		return m
	}
	batches, err := n.resolve(refs.Batches)
	if err != nil {
		return m
	}
	alt, _, err := block.Assemble(n.cfg.Trust, n.limits(), block.Input{
		Parent: n.store.Last(), Batches: batches, Timestamp: refs.Header.Timestamp + 1,
		Proposer: n.cfg.Name, Consensus: pp.Proposal.Metadata,
	}, n.idx, n.state)
	if err != nil {
		return m
	}
	out := proto.Clone(m).(*protos.Message)
	hb, _ := alt.Header.MarshalBinary()
	out.GetPrePrepare().Proposal.Payload = block.RefsOf(alt).Encode()
	out.GetPrePrepare().Proposal.Header = hb
	b.alts[pp.Seq] = out
	b.hits.Add(1)
	return out
}

// forge sends a copy of m that claims to come from another orderer: once
// signed with our own key (forged sender), once with the other's key id
// and a junk signature (bad signature).
func (b *byzantine) forge(target uint64, m *protos.Message) {
	trust := b.c.cons.Bundle
	to, _ := trust.OrdererByID(target)
	var victim string
	for _, o := range trust.Orderers {
		if o != to && o != b.name {
			victim = o
			break
		}
	}
	payload, _ := proto.Marshal(m)
	nc := b.c.conn(b.name)
	frames, err := bft.Seal(trust.Chain, b.c.cons.Orderers[b.name], bft.KindConsensus, victim, to, uint64(time.Now().UnixNano()), payload, 512<<10)
	if err != nil {
		return
	}
	for _, f := range frames {
		_ = nc.Publish(bus.BFTSubject(to), f)
	}
	junk := bft.Envelope{Kind: bft.KindConsensus, From: victim, To: to, MsgID: 1, Parts: 1, Payload: payload,
		KeyID: b.c.cons.Orderers[victim].KeyID(), Sig: make([]byte, 64)}
	sum := sha256.Sum256(payload)
	copy(junk.Sig, sum[:])
	_ = nc.Publish(bus.BFTSubject(to), junk.Encode())
	b.hits.Add(2)
}

func TestByzantineOrderer(t *testing.T) {
	n := 4
	if *long {
		n = 7
	}
	for _, mode := range []string{"silent", "badbatch", "badref", "equivocate", "forge"} {
		t.Run(mode, func(t *testing.T) {
			c := newCluster(t, n)
			// hongkong has id 1 and leads view 0.
			byz := &byzantine{c: c, name: "hongkong", mode: mode, alts: map[uint64]*protos.Message{}}
			c.wrap["hongkong"] = func(inner bft.Comm) bft.Comm { byz.Comm = inner; return byz }
			c.startAll()
			// Leaders rotate: load until the Byzantine orderer has had its
			// turn, then some more.
			for round := 0; byz.hits.Load() == 0; round++ {
				if round == 20 {
					t.Fatalf("the Byzantine orderer never misbehaved")
				}
				c.load(20, 10, 5*time.Millisecond, nil)
				c.waitSealed(90 * time.Second)
			}
			c.load(scale(30), 10, 5*time.Millisecond, nil)
			c.waitSealed(90 * time.Second)
			c.checkChains()
			var bad, forged, badSig uint64
			for _, n := range c.running() {
				if n.Name() == "hongkong" {
					continue
				}
				s := n.Stats()
				bad += s.BadProposals
				forged += s.Transport.ForgedSender
				badSig += s.Transport.BadSignature
			}
			switch mode {
			case "badbatch", "badref":
				if bad == 0 {
					t.Errorf("no follower refused the tampered proposals")
				}
			case "forge":
				if forged == 0 || badSig == 0 {
					t.Errorf("forged envelopes not counted: forged %d, bad signature %d", forged, badSig)
				}
			}
			t.Log(fmt.Sprintf("height %d, tampered %d, refused proposals %d, forged %d, bad signatures %d",
				c.running()[0].Height(), byz.hits.Load(), bad, forged, badSig))
		})
	}
}
