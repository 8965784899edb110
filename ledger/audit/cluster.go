package audit

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

// ClusterReport is what VerifyCluster found, one entry per log, in the
// order given.
type ClusterReport struct {
	Chains []ChainResult
}

// ChainResult is one orderer's chain: its report if it verified on its
// own, and its fault, either its own or a fork from the others (then the
// report is set too).
type ChainResult struct {
	Log
	Report *Report
	Fault  *Fault
}

// Faults returns the faults found, in the logs' order.
func (c *ClusterReport) Faults() []*Fault {
	var out []*Fault
	for _, r := range c.Chains {
		if r.Fault != nil {
			out = append(out, r.Fault)
		}
	}
	return out
}

// VerifyCluster verifies every log with VerifyChain, then compares the
// chains that verified. Orderers may lag but never disagree: for every two
// chains, the shorter one's head must be the longer one's block at that
// height, so a lagging orderer on a fork is caught as well as two orderers
// at the same height with different heads. The reference is the chain that
// agrees with the most others (then the longest, then the first); each
// chain that does not agree with it gets a Fault wrapping ErrFork at the
// first height where the two differ.
//
// It returns the report and, if any chain has a fault, the first one (with
// Orderer set; the report lists them all). Errors that say nothing about the
// chains (no scratch space, ctx's) end it with a nil report.
func VerifyCluster(ctx context.Context, logs []Log, trust *keys.Bundle) (*ClusterReport, error) {
	return VerifyClusterProgress(ctx, logs, trust, nil)
}

// VerifyClusterProgress is VerifyCluster that tells progress, if not nil,
// of each block verified: the log's index in logs, the block's height and
// the log's last height (for a progress bar; it runs on the caller's
// goroutine and must not block).
func VerifyClusterProgress(ctx context.Context, logs []Log, trust *keys.Bundle, progress func(log int, height, last uint64)) (*ClusterReport, error) {
	rep := &ClusterReport{Chains: make([]ChainResult, len(logs))}
	readers := make([]*blocklog.Reader, len(logs))
	for i, l := range logs {
		res := &rep.Chains[i]
		res.Log = l
		r, err := openLog(l.Dir, l.Cold)
		if err == nil {
			readers[i] = r
			var tell func(height uint64)
			if progress != nil {
				last := r.Height()
				tell = func(height uint64) { progress(i, height, last) }
			}
			res.Report, err = verify(ctx, r, trust, tell)
		}
		var f *Fault
		switch {
		case errors.As(err, &f):
			f.Orderer = orName(l)
			res.Fault, res.Report = f, nil
		case err != nil:
			return nil, err
		}
	}
	if err := compare(ctx, rep, readers); err != nil {
		return nil, err
	}
	for _, c := range rep.Chains {
		if c.Fault != nil {
			return rep, c.Fault
		}
	}
	return rep, nil
}

func orName(l Log) string {
	if l.Name != "" {
		return l.Name
	}
	return l.Dir
}

// chainView reads the header hashes of one verified chain, remembering
// what it read.
type chainView struct {
	r      *blocklog.Reader
	height uint64
	hashes map[uint64][32]byte
}

func (v *chainView) hash(ctx context.Context, h uint64) ([32]byte, error) {
	if x, ok := v.hashes[h]; ok {
		return x, nil
	}
	hdr, err := v.r.Header(ctx, h)
	if err != nil {
		return [32]byte{}, err
	}
	v.hashes[h] = hdr.Hash()
	return v.hashes[h], nil
}

// agree reports whether the shorter of two chains is a prefix of the
// longer: the same block at the shorter one's height.
func agree(ctx context.Context, a, b *chainView) (bool, error) {
	h := min(a.height, b.height)
	if h == 0 {
		return true, nil
	}
	x, err := a.hash(ctx, h)
	if err != nil {
		return false, err
	}
	y, err := b.hash(ctx, h)
	return x == y, err
}

// forkHeight is the first height where two disagreeing chains differ
// (hash links make "the same block at h" hold for every h below it).
func forkHeight(ctx context.Context, a, b *chainView) (uint64, error) {
	var err error
	h := sort.Search(int(min(a.height, b.height)), func(i int) bool {
		if err != nil {
			return true
		}
		var x, y [32]byte
		if x, err = a.hash(ctx, uint64(i+1)); err == nil {
			y, err = b.hash(ctx, uint64(i+1))
		}
		return x != y
	})
	return uint64(h + 1), err
}

// compare checks the verified chains against each other and records a fork
// Fault on each that does not agree with the reference chain.
func compare(ctx context.Context, rep *ClusterReport, readers []*blocklog.Reader) error {
	var views []*chainView
	var idx []int // views[k] is rep.Chains[idx[k]]
	for i, c := range rep.Chains {
		if c.Report == nil {
			continue
		}
		v := &chainView{r: readers[i], height: c.Report.Height, hashes: map[uint64][32]byte{}}
		if v.height > 0 {
			v.hashes[v.height] = c.Report.LastHash
		}
		views = append(views, v)
		idx = append(idx, i)
	}
	if len(views) < 2 {
		return nil
	}
	ok := make([][]bool, len(views))
	votes := make([]int, len(views))
	for a := range views {
		ok[a] = make([]bool, len(views))
		ok[a][a] = true
	}
	for a := range views {
		for b := a + 1; b < len(views); b++ {
			same, err := agree(ctx, views[a], views[b])
			if err != nil {
				return fmt.Errorf("audit: compare %s and %s: %w", orName(rep.Chains[idx[a]].Log), orName(rep.Chains[idx[b]].Log), err)
			}
			ok[a][b], ok[b][a] = same, same
			if same {
				votes[a]++
				votes[b]++
			}
		}
	}
	ref := 0
	for k := range views {
		if votes[k] > votes[ref] || votes[k] == votes[ref] && views[k].height > views[ref].height {
			ref = k
		}
	}
	refName := orName(rep.Chains[idx[ref]].Log)
	for k, v := range views {
		if ok[k][ref] {
			continue
		}
		h, err := forkHeight(ctx, v, views[ref])
		if err != nil {
			return fmt.Errorf("audit: compare %s and %s: %w", orName(rep.Chains[idx[k]].Log), refName, err)
		}
		mine, err := v.hash(ctx, h)
		if err != nil {
			return err
		}
		theirs, err := views[ref].hash(ctx, h)
		if err != nil {
			return err
		}
		c := &rep.Chains[idx[k]]
		c.Fault = &Fault{Orderer: orName(c.Log), Height: h, What: "fork", Err: fmt.Errorf(
			"%w: block %d is %s here and %s at %s (height %d, agreeing with %d of the other %d chains); this chain is at height %d",
			ErrFork, h, schemas.FormatID(mine), schemas.FormatID(theirs), refName, views[ref].height, votes[ref], len(views)-1, v.height)}
	}
	return nil
}
