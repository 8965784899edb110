package bench

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/baybus/baybus/internal/system"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/proof"
)

// Proofs are the license-proof figures of a run, measured on the ledger the
// load left behind: the last block's bundles are built again (as the proof
// publisher builds them on commit), then verified over and over as a
// cross-boundary service would.
type Proofs struct {
	GeneratedPerS  float64 `json:"generated_per_s"`   // bundles built per second, one block at a time, all cores
	VerifyColdPerS float64 `json:"verify_cold_per_s"` // proof.Verify: every check, the header's quorum certificate included
	VerifyWarmPerS float64 `json:"verify_warm_per_s"` // proof.Verifier: the header and certificate already trusted
	BundleBytes    float64 `json:"bundle_bytes"`      // mean binary size
	BlockTxs       int     `json:"block_txs"`         // transactions of the block proved
	// What the proof publisher did during the load: bundles made on commit,
	// stored by GBA_PROOFS, and dropped because its queue was full (a
	// subscriber then fetches a fresh proof instead).
	PublisherGenerated float64 `json:"publisher_generated"`
	PublisherPublished float64 `json:"publisher_published"`
	PublisherDropped   float64 `json:"publisher_dropped"`
}

// measureProofs times bundle generation for the newest block of the first
// orderer's ledger (the state must be at its height: the load has stopped)
// and verification of those bundles, each for at least d.
func measureProofs(sys *system.System, d time.Duration) (*Proofs, error) {
	src, err := sys.ProofSource()
	if err != nil {
		return nil, err
	}
	var (
		blk     *block.Block
		bundles []*proof.Bundle
		made    int
		start   time.Time
	)
	b := proof.Builder{Workers: runtime.GOMAXPROCS(0)}
	// Blocks still in flight when the load stopped move the state on; the
	// state must be at the proved block's height, so begin again on the
	// newest block if it moved.
	for attempt := 0; ; attempt++ {
		h := sys.Nodes[0].Height()
		var qc *block.QC
		if blk, qc, err = src.Block(h); err != nil {
			return nil, err
		}
		if blk.Header.TxCount == 0 {
			return nil, fmt.Errorf("bench: block %d has no transaction to prove", h)
		}
		prove := proof.ProveAt(&blk.Header, src.ProveLatest)
		made, start = 0, time.Now()
		for err = nil; err == nil && time.Since(start) < d; made += len(bundles) {
			bundles, err = b.ForBlock(&blk.Header, qc, blk, prove)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, proof.ErrStateMoved) || attempt == 5 {
			return nil, fmt.Errorf("bench: prove block %d: %w", h, err)
		}
		time.Sleep(time.Second)
	}
	out := &Proofs{GeneratedPerS: float64(made) / time.Since(start).Seconds(), BlockTxs: len(bundles),
		PublisherGenerated: counter(sys, "baybus_proofs_generated_total"),
		PublisherPublished: counter(sys, "baybus_proofs_published_total"),
		PublisherDropped:   counter(sys, "baybus_proofs_dropped_total")}
	size := 0
	for _, bd := range bundles {
		raw, err := bd.MarshalBinary()
		if err != nil {
			return nil, err
		}
		size += len(raw)
	}
	out.BundleBytes = float64(size) / float64(len(bundles))

	trust := sys.Consortium.Bundle
	if out.VerifyColdPerS, err = verifyRate(bundles, d, func(bd *proof.Bundle) error {
		_, err := proof.Verify(trust, bd)
		return err
	}); err != nil {
		return nil, err
	}
	warm := proof.NewVerifier(trust, 0)
	if _, err := warm.Verify(bundles[0]); err != nil { // trust the header once
		return nil, err
	}
	if out.VerifyWarmPerS, err = verifyRate(bundles, d, func(bd *proof.Bundle) error {
		_, err := warm.Verify(bd)
		return err
	}); err != nil {
		return nil, err
	}
	return out, nil
}

// verifyRate runs verify over the bundles on every core for at least d and
// returns verifications per second; any failure is an error.
func verifyRate(bundles []*proof.Bundle, d time.Duration, verify func(*proof.Bundle) error) (float64, error) {
	var done atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for w := range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := w; time.Now().Before(deadline); i++ {
				if err := verify(bundles[i%len(bundles)]); err != nil {
					once.Do(func() { first = fmt.Errorf("bench: a bundle the ledger made does not verify: %w", err) })
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(done.Load()) / time.Since(start).Seconds(), first
}
