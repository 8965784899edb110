package proof_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/baybus/baybus/ledger/block"
	baybusproof "github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/ledger/proof/prooftest"
	"github.com/baybus/baybus/ledger/state/smt"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

// mutation is one way to break a bundle, and the check that must catch it.
type mutation struct {
	name   string
	base   func(c *prooftest.Chain, t *testing.T) *baybusproof.Bundle
	mutate func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle)
	want   error
	// viewOnly: the change lives in the JSON view, which the binary form
	// does not carry.
	viewOnly bool
}

func commitOf(h uint64, name string) func(*prooftest.Chain, *testing.T) *baybusproof.Bundle {
	return func(c *prooftest.Chain, t *testing.T) *baybusproof.Bundle { return c.Find(t, h, name) }
}

func freshOf(name string) func(*prooftest.Chain, *testing.T) *baybusproof.Bundle {
	return func(c *prooftest.Chain, t *testing.T) *baybusproof.Bundle {
		b, err := baybusproof.Latest(c, c.Keys[name])
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// rogueKey is a key outside the consortium, derived from its id so that
// the golden vectors are reproducible.
func rogueKey(t *testing.T, id string) *keys.PrivateKey {
	k, err := keys.Generate(id, keys.Ed25519, rand.NewChaCha8(sha256.Sum256([]byte("rogue "+id))))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// resignBatch replaces a part's batch signature with key's.
func resignBatch(p *baybusproof.TxProof, key keys.Signer) {
	h := p.Batch.Header()
	p.Batch.KeyID = key.KeyID()
	p.Batch.Signature = key.Sign(keys.Domain{Chain: h.Chain, Purpose: keys.PurposeBatch}, h.SignedBytes())
}

// flipRecordByte changes one letter of the transaction's event id.
func flipRecordByte(t *testing.T, p *baybusproof.TxProof) {
	i := bytes.Index(p.Bytes, []byte(`"eventId":"`))
	if i < 0 {
		t.Fatal("no eventId")
	}
	p.Bytes = bytes.Clone(p.Bytes)
	p.Bytes[i+len(`"eventId":"`)] ^= 0x01
}

func hdr(t *testing.T, b *baybusproof.Bundle, i int) *block.Header {
	h, err := b.Headers[i].Header()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

var mutations = []mutation{
	{name: "record changed by one byte", base: commitOf(1, "cn-business"), want: baybusproof.ErrRecord,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) { flipRecordByte(t, &b.Tx) }},
	{name: "record changed with its id", base: commitOf(1, "cn-business"), want: baybusproof.ErrBatchPath,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) {
			flipRecordByte(t, &b.Tx)
			b.Tx.ID = schemas.ComputeTxID(b.Tx.Bytes)
		}},
	{name: "record of another license", base: commitOf(1, "cn-business"), want: baybusproof.ErrRecord,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) { b.Key = c.Keys["cn-certificate"] }},
	{name: "batch path changed", base: commitOf(1, "cn-business"), want: baybusproof.ErrBatchPath,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) { b.Tx.Batch.Path[0][0] ^= 1 }},
	{name: "batch index changed", base: commitOf(1, "cn-business"), want: baybusproof.ErrBatchPath,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) { b.Tx.Batch.Index++ }},
	{name: "batch path truncated", base: commitOf(1, "cn-business"), want: baybusproof.ErrBatchPath,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) { b.Tx.Batch.Path = b.Tx.Batch.Path[1:] }},
	{name: "tx path changed", base: commitOf(1, "cn-business"), want: baybusproof.ErrTxPath,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) { b.Tx.Path[len(b.Tx.Path)-1][31] ^= 1 }},
	{name: "tx tree size changed", base: commitOf(1, "cn-business"), want: baybusproof.ErrTxPath,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) { b.Tx.Size++ }},
	{name: "tx leaf index changed", base: commitOf(1, "hk-business"), want: baybusproof.ErrTxPath,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) { b.Tx.Index++ }},
	{name: "batch signature changed", base: commitOf(1, "cn-business"), want: baybusproof.ErrBatchSignature,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) {
			b.Tx.Batch.Signature = bytes.Clone(b.Tx.Batch.Signature)
			b.Tx.Batch.Signature[3] ^= 1
		}},
	{name: "batch header changed", base: commitOf(1, "cn-business"), want: baybusproof.ErrBatchSignature,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) { b.Tx.Batch.Seq++ }},
	{name: "batch signature from another city", base: commitOf(1, "cn-business"), want: baybusproof.ErrBatchSignature,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) {
			resignBatch(&b.Tx, c.Consortium.Cities["guangzhou"])
		}},
	{name: "batch of another city", base: commitOf(1, "cn-business"), want: baybusproof.ErrBatchSignature,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) {
			b.Tx.Batch.City = "guangzhou"
			resignBatch(&b.Tx, c.Consortium.Cities["guangzhou"])
		}},
	{name: "batch key not in trust bundle", base: commitOf(1, "cn-business"), want: baybusproof.ErrKeyNotValid,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) {
			rogue := rogueKey(t, "city/shenzhen/2")
			resignBatch(&b.Tx, rogue)
		}},
	{name: "batch key not yet valid", base: commitOf(1, "zhuhai-business"), want: baybusproof.ErrKeyNotValid,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) { resignBatch(&b.Tx, c.ZhuhaiKey2) }},
	{name: "batch key no longer valid", base: commitOf(3, "zhuhai-business"), want: baybusproof.ErrKeyNotValid,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) {
			resignBatch(&b.Tx, c.Consortium.Cities["zhuhai"])
		}},
	{name: "wrong header", base: commitOf(1, "cn-business"), want: baybusproof.ErrHeader,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) {
			b.Headers[0] = baybusproof.Seal(&c.Records[1].Header, &c.Records[1].QC)
		}},
	{name: "header view changed", base: commitOf(1, "cn-business"), want: baybusproof.ErrHeader, viewOnly: true,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) { b.Headers[0].View.StateRoot[0] ^= 1 }},
	{name: "header bytes changed", base: commitOf(1, "cn-business"), want: baybusproof.ErrQuorum,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) {
			h := hdr(t, b, 0)
			h.Timestamp++
			b.Headers[0].Raw, _ = h.MarshalBinary()
			b.Headers[0].View = baybusproof.ViewOf(h)
		}},
	{name: "header not used", base: commitOf(1, "cn-business"), want: baybusproof.ErrHeader,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) {
			b.Headers = append(b.Headers, baybusproof.Seal(&c.Records[1].Header, &c.Records[1].QC))
		}},
	{name: "certificate below quorum", base: commitOf(1, "cn-business"), want: baybusproof.ErrQuorum,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) {
			b.Headers[0].QC.Votes = b.Headers[0].QC.Votes[:2]
		}},
	{name: "signer counted twice", base: commitOf(1, "cn-business"), want: baybusproof.ErrQuorum,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) {
			v := b.Headers[0].QC.Votes
			b.Headers[0].QC.Votes = []block.Vote{v[0], v[1], v[1]}
		}},
	{name: "forged vote", base: commitOf(1, "cn-business"), want: baybusproof.ErrQuorum,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) {
			mallory := rogueKey(t, "orderer/qianhai/1")
			b.Headers[0].QC.Votes[2] = block.SignVote(mallory, "qianhai", hdr(t, b, 0))
		}},
	{name: "vote with another orderer's key", base: commitOf(1, "cn-business"), want: baybusproof.ErrQuorum,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) {
			b.Headers[0].QC.Votes[2] = block.SignVote(c.Consortium.Orderers["hengqin"], "qianhai", hdr(t, b, 0))
		}},
	{name: "vote key not in trust bundle", base: commitOf(1, "cn-business"), want: baybusproof.ErrKeyNotValid,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) {
			rogue := rogueKey(t, "orderer/qianhai/2")
			b.Headers[0].QC.Votes[2] = block.SignVote(rogue, "qianhai", hdr(t, b, 0))
		}},
	{name: "fork in one bundle", base: commitOf(1, "cn-business"), want: baybusproof.ErrFork,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) {
			b.Headers = append(b.Headers, c.Fork(1))
		}},
	{name: "state leaf changed", base: freshOf("cn-business"), want: baybusproof.ErrStateProof,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) {
			b.State.Leaf.Status = schemas.StatusValid
		}},
	{name: "state sibling changed", base: commitOf(2, "hk-business"), want: baybusproof.ErrStateProof,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) {
			for i, s := range b.State.Proof.Siblings {
				if s != [32]byte(smtEmpty()) {
					b.State.Proof.Siblings[i][5] ^= 1
					return
				}
			}
			t.Fatal("no non-empty sibling")
		}},
	{name: "state of another license", base: commitOf(1, "cn-business"), want: baybusproof.ErrStateProof,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) {
			b.State = clone(t, c.Find(t, 1, "cn-certificate")).State
		}},
	{name: "state leaf missing", base: commitOf(1, "cn-business"), want: baybusproof.ErrStateProof,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) { b.State.Leaf = nil }},
	{name: "state before the transaction", base: freshOf("cn-certificate"), want: baybusproof.ErrStateProof,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) {
			// Prove the old state (block 1's) against a transaction of block 4.
			b.Tx = clone(t, c.Find(t, 4, "hk-business")).Tx
			b.Key = c.Keys["hk-business"]
			b.State = clone(t, c.Find(t, 1, "hk-business")).State
			b.Headers = []baybusproof.SealedHeader{baybusproof.Seal(&c.Records[0].Header, &c.Records[0].QC),
				baybusproof.Seal(&c.Records[3].Header, &c.Records[3].QC)}
		}},
	{name: "record part not the record in force", base: freshOf("hk-business"), want: baybusproof.ErrRecord,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) {
			p := clone(t, c.Find(t, 2, "hk-business")).Tx // the suspension, not the issue
			b.Record = &p
			b.Headers = []baybusproof.SealedHeader{baybusproof.Seal(&c.Records[1].Header, &c.Records[1].QC),
				baybusproof.Seal(&c.Records[3].Header, &c.Records[3].QC)}
		}},
}

func smtEmpty() [32]byte { return [32]byte(smt.Empty) }

// mutations2 break bundles of the rules version 2 chain (prooftest.Build2)
// in what version 2 adds: the leaf's holder and validity end, and the
// header's rules version. The "quorum" ones are signed by a quorum that
// certified a state the rules cannot have made: only the verifier's own
// checks catch them.
var mutations2 = []mutation{
	{name: "leaf holder changed", base: freshOf("cn-moved"), want: baybusproof.ErrStateProof,
		mutate: func(_ *prooftest.Chain, _ *testing.T, b *baybusproof.Bundle) { b.State.Leaf.Owner = "shenzhen" }},
	{name: "leaf validity end changed", base: freshOf("hk-certificate"), want: baybusproof.ErrStateProof,
		mutate: func(_ *prooftest.Chain, _ *testing.T, b *baybusproof.Bundle) { b.State.Leaf.ValidTo = "2030-10-09" }},
	{name: "quorum certified a validity end that is not the record's", base: freshOf("hk-certificate"), want: baybusproof.ErrStateProof,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) {
			forgeState(c, t, b, func(l *smt.Leaf) { l.ValidTo = "2030-10-09" })
		}},
	{name: "quorum certified a leaf without holder under rules 2", base: freshOf("cn-business"), want: baybusproof.ErrStateProof,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) {
			forgeState(c, t, b, func(l *smt.Leaf) { l.Owner, l.ValidTo = "", "" })
		}},
	{name: "header of rules version 1 on a rules 2 chain", base: commitOf(1, "cn-business"), want: baybusproof.ErrHeader,
		mutate: func(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle) {
			h := hdr(t, b, 0)
			h.Rules = 0
			qc := c.Sign(h)
			b.Headers[0] = baybusproof.Seal(h, &qc)
		}},
}

// forgeState edits the bundle's state leaf and replaces the state
// header by one whose state root is the edited leaf's under the same
// proof, certified by the quorum's keys.
func forgeState(c *prooftest.Chain, t *testing.T, b *baybusproof.Bundle, edit func(*smt.Leaf)) {
	t.Helper()
	edit(b.State.Leaf)
	vh, err := b.State.Leaf.ValueHash()
	if err != nil {
		t.Fatal(err)
	}
	path := smt.PathOf(b.Key)
	root := smt.LeafHash(path, vh)
	d := len(b.State.Proof.Siblings)
	for i, sib := range b.State.Proof.Siblings {
		if bit := d - 1 - i; path[bit>>3]>>(7-uint(bit&7))&1 == 0 {
			root = smt.NodeHash(root, sib)
		} else {
			root = smt.NodeHash(sib, root)
		}
	}
	for i := range b.Headers {
		if h := hdr(t, b, i); h.Height == b.State.Height {
			h.StateRoot = root
			qc := c.Sign(h)
			b.Headers[i] = baybusproof.Seal(h, &qc)
		}
	}
}

// TestRejections runs every mutation through Verify on the bundle as
// built, and after a round trip through each encoding, on the chains of
// both rules versions.
func TestRejections(t *testing.T) {
	for _, set := range []struct {
		c         *prooftest.Chain
		mutations []mutation
	}{{build(t), mutations}, {prooftest.Build2(t, t.TempDir()), mutations2}} {
		rejections(t, set.c, set.mutations)
	}
}

func rejections(t *testing.T, c *prooftest.Chain, ms []mutation) {
	for _, m := range ms {
		t.Run(m.name, func(t *testing.T) {
			b := clone(t, m.base(c, t))
			if _, err := baybusproof.Verify(c.Trust, b); err != nil {
				t.Fatalf("base bundle does not verify: %v", err)
			}
			m.mutate(c, t, b)
			forms := map[string]*baybusproof.Bundle{"built": b, "json": clone(t, b)}
			if !m.viewOnly {
				raw, err := b.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				if forms["binary"], err = baybusproof.DecodeBinary(raw); err != nil {
					t.Fatal(err)
				}
			}
			for form, fb := range forms {
				v, err := baybusproof.Verify(c.Trust, fb)
				if !errors.Is(err, m.want) || !errors.Is(err, baybusproof.ErrInvalid) {
					t.Fatalf("%s: verdict %v, err %v; want %v", form, v, err, m.want)
				}
				var pe *baybusproof.Error
				if !errors.As(err, &pe) || pe.Check != m.want || baybusproof.CheckName(err) == "" {
					t.Fatalf("%s: %v is not an *Error with check %v", form, err, m.want)
				}
			}
		})
	}
}

// TestWarmVerifier: headers trusted once skip their certificate; a
// validly certified header that differs from a trusted one is a fork.
func TestWarmVerifier(t *testing.T) {
	c := build(t)
	v := baybusproof.NewVerifier(c.Trust, 0)
	total := 0
	for _, bundles := range c.Committed {
		for _, b := range bundles {
			if _, err := v.Verify(b); err != nil {
				t.Fatal(err)
			}
			total++
		}
	}
	if st := v.Stats(); st.Checked != uint64(len(c.Committed)) || st.Skipped != uint64(total-len(c.Committed)) {
		t.Fatalf("stats %+v: want %d checked, %d skipped", st, len(c.Committed), total-len(c.Committed))
	}

	forked := clone(t, c.Find(t, 1, "cn-business"))
	forked.Headers[0] = c.Fork(1)
	if _, err := baybusproof.Verify(c.Trust, forked); err != nil {
		t.Fatalf("the forked header verifies on its own (its certificate is valid): %v", err)
	}
	if _, err := v.Verify(forked); !errors.Is(err, baybusproof.ErrFork) {
		t.Fatalf("warm verifier: err %v, want ErrFork", err)
	}
	if h, _ := v.Trusted(1); h != c.Records[0].Header.Hash() {
		t.Fatal("the fork replaced the trusted header")
	}

	// A trusted header does not excuse a certificate that does not hold on
	// its own; another valid certificate of the same header is checked once.
	padded := clone(t, c.Find(t, 1, "hk-business"))
	vs := padded.Headers[0].QC.Votes
	padded.Headers[0].QC.Votes = []block.Vote{vs[0], vs[1], vs[1]}
	if _, err := v.Verify(padded); !errors.Is(err, baybusproof.ErrQuorum) {
		t.Fatalf("padded certificate of a trusted header: err %v, want ErrQuorum", err)
	}
	other := clone(t, c.Find(t, 1, "hk-business"))
	h1 := hdr(t, other, 0)
	other.Headers[0].QC = block.QC{}
	for _, o := range prooftest.Orderers[1:] {
		other.Headers[0].QC.Votes = append(other.Headers[0].QC.Votes, block.SignVote(c.Consortium.Orderers[o], o, h1))
	}
	before := v.Stats()
	for range 2 {
		if _, err := v.Verify(other); err != nil {
			t.Fatal(err)
		}
	}
	if st := v.Stats(); st.Checked != before.Checked+1 || st.Skipped != before.Skipped+1 {
		t.Fatalf("another certificate: stats %+v after %+v", st, before)
	}

	// A trusted header does not excuse a bad path.
	bad := clone(t, c.Find(t, 1, "hk-business"))
	bad.Tx.Path[0][0] ^= 1
	if _, err := v.Verify(bad); !errors.Is(err, baybusproof.ErrTxPath) {
		t.Fatalf("err %v, want ErrTxPath", err)
	}

	small := baybusproof.NewVerifier(c.Trust, 2)
	for _, bundles := range c.Committed {
		if _, err := small.Verify(bundles[0]); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := small.Trusted(1); ok {
		t.Error("height 1 still trusted after eviction")
	}
	if _, ok := small.Trusted(4); !ok {
		t.Error("height 4 not trusted")
	}

	// Concurrent use.
	conc := baybusproof.NewVerifier(c.Trust, 0)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, bundles := range c.Committed {
				for _, b := range bundles {
					if _, err := conc.Verify(b); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
}

// TestVerifierKeepsBatchSignatures: a warm verifier verifies each batch
// signature once (the proofs of one batch share it; issue 15's share
// route verified it again for every proof), and one that has seen the
// good bundles still rejects every mutation of a batch: its signature,
// header, key, or path.
func TestVerifierKeepsBatchSignatures(t *testing.T) {
	c := build(t)
	v := baybusproof.NewVerifier(c.Trust, 0)
	parts, batches := 0, map[string]bool{}
	for _, bundles := range c.Committed {
		for _, b := range bundles {
			if _, err := v.Verify(b); err != nil {
				t.Fatal(err)
			}
			for _, tp := range []*baybusproof.TxProof{&b.Tx, b.Record} {
				if tp != nil {
					parts++
					batches[tp.Batch.KeyID+string(tp.Batch.Signature)] = true
				}
			}
		}
	}
	st := v.Stats()
	if st.BatchSigsChecked != uint64(len(batches)) || st.BatchSigsReused != uint64(parts-len(batches)) || st.BatchSigsReused == 0 {
		t.Fatalf("stats %+v: want %d batch signatures checked, %d reused", st, len(batches), parts-len(batches))
	}
	for _, m := range mutations {
		if m.want != baybusproof.ErrBatchSignature && m.want != baybusproof.ErrKeyNotValid && m.want != baybusproof.ErrBatchPath {
			continue
		}
		t.Run(m.name, func(t *testing.T) {
			b := clone(t, m.base(c, t))
			if _, err := v.Verify(b); err != nil {
				t.Fatalf("base bundle does not verify: %v", err)
			}
			m.mutate(c, t, b)
			if _, err := v.Verify(b); !errors.Is(err, m.want) {
				t.Fatalf("warm verifier: err %v, want %v", err, m.want)
			}
		})
	}
}
