package node_test

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/baybus/baybus/internal/natsserver/natstest"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/licenses"
	"github.com/baybus/baybus/ledger/node"
	"github.com/baybus/baybus/ledger/orderer/ordertest"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/ledger/state"
	"github.com/baybus/baybus/ledger/wal"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/keys"
)

var long = flag.Bool("long", false, "run the long variants (a backfill of 20,000 licenses)")

// bigLedger is a stopped node's ledger of licenses licenses, issued in
// blocks of perBlock (batches of 250), the last block of every ten also
// suspending a license of the block before, so some licenses change twice.
type bigLedger struct {
	cons     *keys.Consortium
	src      node.LedgerSource
	licenses int // distinct licenses
}

func buildBigLedger(t testing.TB, licensesN, perBlock int) *bigLedger {
	t.Helper()
	// Rules version 2 by name: these records name persons in plaintext,
	// which a chain of version 3 (the default) seals as invalid.
	cons, err := keys.NewConsortiumRules("gba-test", schemas.CityTokens(), []string{"hongkong", "macao", "qianhai", "hengqin"}, keys.Schemes{City: keys.Ed25519, Orderer: keys.Ed25519}, block.Rules2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	st, err := licenses.Open(filepath.Join(dir, "state"), state.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	blocks, err := blocklog.OpenStore(filepath.Join(dir, "blocks"), wal.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blocks.Close() })
	sealer := &ordertest.Sealer{Cons: cons, Signers: []string{"hongkong", "macao", "qianhai"}, State: st}
	seq := uint64(0)
	for first := 0; first < licensesN; first += perBlock {
		var batches []*schemas.Batch
		var txs [][]byte
		flush := func() {
			if len(txs) > 0 {
				seq++
				batches = append(batches, blocktest.Batch(cons, "shenzhen", seq, txs...))
				txs = nil
			}
		}
		for i := first; i < min(first+perBlock, licensesN); i++ {
			txs = append(txs, blocktest.Tx(cons.Bundle.Chain, "shenzhen", fmt.Sprintf("L%06d", i), schemas.ActionIssue))
			if len(txs) == 250 {
				flush()
			}
		}
		if h := first / perBlock; h%10 == 9 {
			txs = append(txs, blocktest.Tx(cons.Bundle.Chain, "shenzhen", fmt.Sprintf("L%06d", first-1), schemas.ActionSuspend))
		}
		flush()
		rec, _ := sealer.Seal(t, batches...)
		if err := blocks.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	return &bigLedger{cons: cons, src: node.LedgerSource{Blocks: blocks, State: st.Store}, licenses: licensesN}
}

func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestBackfillRewoundMark: a proof mark rewound to 0 over a ledger of
// many licenses (2,000; 20,000 with -long) is backfilled: every license
// gets exactly one fresh proof that verifies, the mark returns to the
// height, and the time and the peak heap are printed.
func TestBackfillRewoundMark(t *testing.T) {
	n, per := 2000, 500
	if *long {
		n, per = 20000, 830 // as `baybus demo --events 20000` seals them
	}
	l := buildBigLedger(t, n, per)
	top := l.src.Blocks.Height()
	ids, err := newIdentities(l.cons)
	if err != nil {
		t.Fatal(err)
	}
	srv := natstest.Start(t, ids, natstest.Options{Streams: bus.StreamConfig{MemoryForProofs: true}})
	nc, err := srv.Connect(bus.IdentityName(bus.RoleOrderer, "hongkong"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sink, err := bus.NewPublisher(nc)
	if err != nil {
		t.Fatal(err)
	}
	p, err := node.NewProofPublisher(node.ProofPublisherConfig{Sink: sink, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	p.Start(ctx)
	mark := filepath.Join(t.TempDir(), node.ProofMarkFile)
	if err := os.WriteFile(mark, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	runtime.GC()
	base := heapInUse()
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if h := heapInUse(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	start := time.Now()
	if err := p.Resume(ctx, mark, l.src, proof.NewProver(l.src, proof.NewBlockCache(0))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the mark back at the height", func() bool { return readMark(t, mark) == top })
	took := time.Since(start)
	close(stop)
	<-sampled
	s := p.Stats()
	t.Logf("backfilled %d licenses over %d blocks in %v (%.0f proofs/s), peak heap %d MiB above %d MiB", s.Generated, top, took.Round(time.Millisecond),
		float64(s.Generated)/took.Seconds(), (peak.Load()-min(base, peak.Load()))>>20, base>>20)
	if s.Generated != uint64(l.licenses) || s.Published != s.Generated || s.Dropped != 0 || s.Failed != 0 || s.Errors != 0 {
		t.Fatalf("stats %+v, want %d proofs published, one per license", s, l.licenses)
	}

	// One per license, each verifying, the suspended ones as suspended.
	// Read back as the operator: an orderer only publishes proofs.
	op, err := srv.Connect(bus.IdentityName(bus.RoleOperator, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	js, _ := jetstream.New(op)
	cons, err := js.OrderedConsumer(ctx, bus.StreamProofs, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	v := proof.NewVerifier(l.cons.Bundle, 0)
	seen := map[string]bool{}
	suspended := 0
	for len(seen) < l.licenses {
		m, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
		if err != nil {
			t.Fatalf("after %d proofs: %v", len(seen), err)
		}
		b, err := proof.Decode(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		vd, err := v.Verify(b)
		if err != nil {
			t.Fatalf("%s: %v", b.Key, err)
		}
		if seen[b.Key] {
			t.Fatalf("%s published twice", b.Key)
		}
		seen[b.Key] = true
		if vd.Status == schemas.StatusSuspended {
			suspended++
		}
	}
	if want := n / per / 10; suspended != want {
		t.Errorf("%d suspended licenses proved, want %d", suspended, want)
	}
}

// TestBackfillStops: a stop during a backfill returns promptly wherever
// the backfill is (reading a block, proving a license, waiting for room in
// the queue), and leaves the mark below what was not published.
func TestBackfillStops(t *testing.T) {
	l := buildBigLedger(t, 3000, 1000)
	ids, err := newIdentities(l.cons)
	if err != nil {
		t.Fatal(err)
	}
	srv := natstest.Start(t, ids, natstest.Options{Streams: bus.StreamConfig{MemoryForProofs: true}})
	nc, err := srv.Connect(bus.IdentityName(bus.RoleOrderer, "hongkong"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sink, err := bus.NewPublisher(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, after := range []time.Duration{0, time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond, 100 * time.Millisecond} {
		for _, started := range []bool{true, false} {
			t.Run(fmt.Sprintf("after %v started %v", after, started), func(t *testing.T) {
				p, err := node.NewProofPublisher(node.ProofPublisherConfig{Sink: sink, Logger: quiet, Queue: 512})
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
				if started {
					p.Start(context.Background())
				}
				mark := filepath.Join(t.TempDir(), node.ProofMarkFile)
				if err := os.WriteFile(mark, []byte("0\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := p.Resume(context.Background(), mark, l.src, nil); err != nil {
					t.Fatal(err)
				}
				time.Sleep(after)
				stopped := make(chan struct{})
				go func() { p.StopBackfill(); close(stopped) }()
				// A generous bound: the backfill checks for a stop between
				// licenses, which take well under a millisecond each.
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				select {
				case <-stopped:
				case <-ctx.Done():
					t.Fatal("StopBackfill did not return")
				}
				if !started && readMark(t, mark) != 0 {
					t.Fatalf("mark %d after a backfill that published nothing", readMark(t, mark))
				}
			})
		}
	}
}

func newIdentities(c *keys.Consortium) (*bus.Identities, error) {
	return bus.NewIdentities(schemas.CityTokens(), c.Bundle.Orderers)
}

// BenchmarkBackfill: fresh proofs of the licenses of blocks of 1,000, as
// the backfill makes them (through a prover's cache), and as they were made
// before (every proof reading, decoding and hashing its whole block);
// ns/op is per license.
func BenchmarkBackfill(b *testing.B) {
	l := buildBigLedger(b, 4000, 1000)
	for _, bc := range []struct {
		name  string
		cache int64
	}{{"cached", 0}, {"uncached", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			prover := proof.NewProver(l.src, proof.NewBlockCache(bc.cache))
			for i := 0; b.Loop(); i++ {
				if _, err := prover.Latest(fmt.Sprintf("CN/L%06d", i%l.licenses)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
