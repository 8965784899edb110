// Package prooftest builds a small, real and deterministic chain for tests
// of license proofs: city-signed batches of bridge sample records of every
// kind and jurisdiction, blocks assembled with ledger/block over the real
// license state (ledger/licenses), quorum certificates signed with
// block.SignVote with their vote messages and the consensus metadata (so
// that blocklog.VerifyRecord accepts the records), and the bundles
// ledger/proof makes when each block commits. Keys come from a seeded ChaCha8 stream, so the same code gives
// the same bytes on every run (the golden vectors rely on it).
//
// Build makes the chain of rules version 1 (four orderers, quorum three;
// zhuhai's key rotates at height 3):
//
//	1  issue: CN, HK, MO x business, certificate, approval (shenzhen, hongkong,
//	   macao); zhuhai business (key city/zhuhai/1)
//	2  suspend hk-business; cn-business again (Duplicate); issue and
//	   suspend cn-extra in the same block
//	3  revoke cn-business; amend zhuhai-business (key city/zhuhai/2)
//	4  expire mo-certificate; reinstate hk-business
//
// Build2 makes a chain of rules version 2 with the same keys:
//
//	1  issue: cn-business, cn-moved (shenzhen); hk-certificate, HK/RGI-648009,
//	   valid 2013-10-10 to 2018-10-09 (hongkong); mo-business (macao)
//	2  guangzhou revokes cn-business (Rejected, not_issuer); shenzhen issues
//	   cn-business again (Rejected, exists); zhuhai issues a USCC with a
//	   wrong check character (Invalid, identifier); shenzhen hands cn-moved
//	   over to guangzhou
//	3  guangzhou suspends cn-moved; shenzhen amends it (Rejected, not_issuer)
//
// Build3 makes a chain of rules version 3 with the same keys and a reader,
// hk-bank (Reader), its keys from the same stream:
//
//	1  issue, personal fields as digests (Disclosures keeps them):
//	   cn-business (shenzhen; its legal representative's name and
//	   identity number), hk-certificate (hongkong); shenzhen grants
//	   hk-bank g1: business registrations, people.name, matching, purpose
//	   kyc, two requests, 2026-01-01 to 2026-12-31
//	2  access a1: hk-bank reads cn-business's people.name under g1;
//	   access a2: hk-bank's request for people.idNumber, refused
//	   (field_not_granted); access m1: a match under g1, answered yes
//	3  access a3: a third request under g1 (Rejected, over_limit), then
//	   refused (over_limit); shenzhen revokes g1
package prooftest

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/blocklog/blocklogtest"
	"github.com/baybus/baybus/ledger/licenses"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/ledger/state"
	"github.com/baybus/baybus/ledger/state/smt"
	"github.com/baybus/baybus/ledger/wal"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/config"
	"github.com/baybus/baybus/schemas/disclose"
	"github.com/baybus/baybus/schemas/keys"
)

// ChainID is the test chain's id.
const ChainID = "gba-test"

// Orderers are the test chain's orderers; certificates carry the votes of
// the first three (the quorum of four).
var Orderers = []string{"hongkong", "macao", "qianhai", "hengqin"}

// BaseTime is the timestamp of block 0 (Unix ns); block h is BaseTime + h s.
const BaseTime = int64(1767225600) * 1e9 // 2026-01-01T00:00:00Z

// Chain is the built chain. Records[h-1], Blocks[h-1] and Committed[h-1]
// are block h's.
type Chain struct {
	Consortium *keys.Consortium
	Trust      *keys.Bundle     // the consortium's bundle plus zhuhai's rotation
	ZhuhaiKey2 *keys.PrivateKey // city/zhuhai/2, valid from 3 (city/zhuhai/1 until 2)
	Records    []*blocklog.Record
	Blocks     []*block.Block
	// Committed are the bundles proof.ForBlock made right after each block
	// committed, as the publisher does.
	Committed [][]*proof.Bundle
	// Keys maps the names of the licenses (cn-business, hk-certificate,
	// mo-approval, zhuhai-business, cn-extra, ...) to their JUR/ID keys.
	Keys  map[string]string
	State *licenses.State // at the last height
	// Build3: the reader, the disclosures of the records issued (by
	// license name), and the requests (by access name: a1, a2, m1, a3).
	Reader      *keys.ReaderKeys
	Disclosures map[string][]disclose.Item
	Requests    map[string]schemas.ShareRequest
	// BuildConfig: the configuration blocks (in height order), the
	// orderer they add with its key, and the configuration in force
	// after the last block (Trust, the genesis, for the other chains).
	ConfigChain []block.ConfigLink
	NanshaKey   *keys.PrivateKey
	Latest      *keys.Bundle

	closeOnce sync.Once
}

// Seed of the key stream.
const Seed = 2026

// Build builds the chain of rules version 1 with its license state in
// stateDir (a fresh directory). The state is closed at the end of the
// test, or by Close.
func Build(tb testing.TB, stateDir string) *Chain {
	tb.Helper()
	c := newChain(tb, stateDir, block.Rules1)
	issues := map[string][]byte{}
	issue := func(name, city string, kind schemas.Kind, seed int64) []byte {
		raw := sampleIssue(tb, city, kind, seed)
		tx, _ := schemas.DecodeTx(raw)
		if _, dup := c.Keys[name]; dup {
			tb.Fatalf("prooftest: license name %s twice", name)
		}
		for n, k := range c.Keys {
			if k == tx.LicenseKey() {
				tb.Fatalf("prooftest: %s and %s are the same license %s", n, name, k)
			}
		}
		c.Keys[name] = tx.LicenseKey()
		issues[name] = raw
		return raw
	}
	var first [][]byte
	for _, j := range []struct{ prefix, city string }{{"cn", "shenzhen"}, {"hk", "hongkong"}, {"mo", "macao"}} {
		for _, k := range schemas.Kinds {
			first = append(first, issue(j.prefix+"-"+k.Short(), j.city, k, 7))
		}
	}
	zhuhai := issue("zhuhai-business", "zhuhai", schemas.KindBusiness, 11)
	cnExtra := issue("cn-extra", "shenzhen", schemas.KindBusiness, 8)

	z1, k2 := c.Consortium.Cities["zhuhai"], c.ZhuhaiKey2
	steps := [][]*schemas.Batch{
		{c.batch(tb, "shenzhen", 1, nil, first[0:3]...), c.batch(tb, "hongkong", 1, nil, first[3:6]...),
			c.batch(tb, "macao", 1, nil, first[6:9]...), c.batch(tb, "zhuhai", 1, z1, zhuhai)},
		{c.batch(tb, "hongkong", 2, nil, change(tb, issues["hk-business"], schemas.ActionSuspend)),
			c.batch(tb, "shenzhen", 2, nil, issues["cn-business"], cnExtra, change(tb, cnExtra, schemas.ActionSuspend))},
		{c.batch(tb, "shenzhen", 3, nil, change(tb, issues["cn-business"], schemas.ActionRevoke)),
			c.batch(tb, "zhuhai", 3, k2, change(tb, zhuhai, schemas.ActionAmend))},
		{c.batch(tb, "macao", 4, nil, change(tb, issues["mo-certificate"], schemas.ActionExpire)),
			c.batch(tb, "hongkong", 4, nil, change(tb, issues["hk-business"], schemas.ActionReinstate))},
	}
	c.seal(tb, steps)
	return c
}

// Build2 builds the chain of rules version 2 (see the package
// documentation) with its license state in stateDir.
func Build2(tb testing.TB, stateDir string) *Chain {
	tb.Helper()
	c := newChain(tb, stateDir, block.Rules2)
	name := func(n string, raw []byte) []byte {
		tx, err := schemas.DecodeTx(raw)
		if err != nil {
			tb.Fatal(err)
		}
		c.Keys[n] = tx.LicenseKey()
		return raw
	}
	cnBusiness := name("cn-business", sampleIssue(tb, "shenzhen", schemas.KindBusiness, 7))
	cnMoved := name("cn-moved", sampleIssue(tb, "shenzhen", schemas.KindBusiness, 8))
	moBusiness := name("mo-business", sampleIssue(tb, "macao", schemas.KindBusiness, 7))
	hkCert := name("hk-certificate", edit(tb, sampleIssue(tb, "hongkong", schemas.KindCertificate, 7), func(tx *schemas.Tx) {
		tx.Record.ID = "RGI-648009"
		tx.Record.Validity = &schemas.Period{From: "2013-10-10", To: "2018-10-09"}
		tx.NativeFormat, tx.NativeHash = "", ""
	}))
	badUSCC := edit(tb, sampleIssue(tb, "zhuhai", schemas.KindBusiness, 11), func(tx *schemas.Tx) {
		wrong := "0" // any other check character than the right one
		if strings.HasSuffix(tx.Record.ID, wrong) {
			wrong = "1"
		}
		tx.Record.ID = tx.Record.ID[:len(tx.Record.ID)-1] + wrong
		tx.NativeFormat, tx.NativeHash = "", ""
	})
	again := edit(tb, cnBusiness, func(tx *schemas.Tx) { tx.EventID += "-again" })
	c.seal(tb, [][]*schemas.Batch{
		{c.batch(tb, "shenzhen", 1, nil, cnBusiness, cnMoved), c.batch(tb, "hongkong", 1, nil, hkCert),
			c.batch(tb, "macao", 1, nil, moBusiness)},
		{c.batch(tb, "guangzhou", 2, nil, changeBy(tb, cnBusiness, schemas.ActionRevoke, "guangzhou")),
			c.batch(tb, "shenzhen", 2, nil, again, handover(tb, cnMoved, "guangzhou")),
			c.batch(tb, "zhuhai", 2, c.Consortium.Cities["zhuhai"], badUSCC)},
		{c.batch(tb, "guangzhou", 3, nil, changeBy(tb, cnMoved, schemas.ActionSuspend, "guangzhou")),
			c.batch(tb, "shenzhen", 3, nil, change(tb, cnMoved, schemas.ActionAmend))},
	})
	return c
}

// Build3 builds the chain of rules version 3 (see the package
// documentation) with its license state in stateDir.
func Build3(tb testing.TB, stateDir string) *Chain {
	tb.Helper()
	c := newChain(tb, stateDir, block.Rules3)
	rng := rand.NewChaCha8([32]byte{Seed & 0xff, Seed >> 8, 3})
	rk, err := keys.NewReaderKeys("hk-bank", "U"+strings.Repeat("A", 55), []string{"CN.*"}, keys.Ed25519, rng)
	if err != nil {
		tb.Fatal(err)
	}
	if c.Trust, err = c.Trust.WithReader(rk, 0); err != nil {
		tb.Fatal(err)
	}
	c.Reader, c.Disclosures, c.Requests = rk, map[string][]disclose.Item{}, map[string]schemas.ShareRequest{}
	redacted := func(n string, raw []byte) []byte {
		out, items := blocktest.Redact(raw)
		tx, err := schemas.DecodeTx(out)
		if err != nil {
			tb.Fatal(err)
		}
		c.Keys[n], c.Disclosures[n] = tx.LicenseKey(), items
		return out
	}
	// The legal representative with an identity number (a certificate
	// sample's, valid), so the record has a personal field no grant gives.
	cert, err := schemas.DecodeTx(sampleIssue(tb, "shenzhen", schemas.KindCertificate, 9))
	if err != nil {
		tb.Fatal(err)
	}
	cnBusiness := redacted("cn-business", edit(tb, sampleIssue(tb, "shenzhen", schemas.KindBusiness, 7), func(tx *schemas.Tx) {
		tx.Record.People[0].IDKind, tx.Record.People[0].IDNumber = cert.Record.Holder.IDKind, cert.Record.Holder.IDNumber
	}))
	hkCert := redacted("hk-certificate", sampleIssue(tb, "hongkong", schemas.KindCertificate, 7))
	g1 := blocktest.Grant(ChainID, "shenzhen", "g1", schemas.Grant{Reader: "hk-bank", Kinds: []schemas.Kind{schemas.KindBusiness},
		Fields: []string{"people.name"}, Match: true, Purpose: "kyc", Limit: 2}, "2026-01-01", "2026-12-31")
	c.Keys["g1"] = "grant/shenzhen/g1"
	req := func(n string, op string, fields []string, nonce byte) schemas.ShareRequest {
		license := ""
		if op == schemas.OpDisclose {
			license = c.Keys["cn-business"]
		}
		r := blocktest.Request(ChainID, "hk-bank", "shenzhen", op, license, schemas.KindBusiness, fields, "kyc", nonce)
		raw, _ := r.Bytes()
		c.Requests[n], c.Keys[n] = r, "access/shenzhen/"+schemas.AccessID(ChainID, raw)
		return r
	}
	yes := true
	a1 := blocktest.Access(rk, req("a1", schemas.OpDisclose, []string{"people.name"}, 1), "g1", "", nil)
	a2 := blocktest.Access(rk, req("a2", schemas.OpDisclose, []string{"people.idNumber"}, 2), "g1", schemas.RefuseField, nil)
	m1 := blocktest.Access(rk, req("m1", schemas.OpMatch, nil, 3), "g1", "", &yes)
	r3 := req("a3", schemas.OpDisclose, []string{"people.name"}, 4)
	c.seal(tb, [][]*schemas.Batch{
		{c.batch(tb, "shenzhen", 1, nil, cnBusiness, g1), c.batch(tb, "hongkong", 1, nil, hkCert)},
		{c.batch(tb, "shenzhen", 2, nil, a1, a2, m1)},
		{c.batch(tb, "shenzhen", 3, nil, blocktest.Access(rk, r3, "g1", "", nil), blocktest.Access(rk, r3, "g1", schemas.RefuseOverLimit, nil),
			blocktest.RevokeGrant(ChainID, "shenzhen", "g1"))},
	})
	return c
}

// BuildConfig builds a chain of rules version 2 whose orderers grow from
// four to five at a configuration block (issue 17 §4):
//
//	1  issue: cn-business (shenzhen), hk-certificate (hongkong); certified
//	   by hongkong, macao, qianhai
//	2  configuration: nansha joins (its key from the same stream, valid
//	   from 3), signed by hongkong, macao, qianhai and nansha's new key;
//	   certified by hongkong, macao, qianhai
//	3  suspend cn-business; certified by macao, qianhai, hengqin, nansha
//	   (four of five: what the genesis alone refuses)
func BuildConfig(tb testing.TB, stateDir string) *Chain {
	tb.Helper()
	c := newChain(tb, stateDir, block.Rules2)
	rng := rand.NewChaCha8([32]byte{Seed & 0xff, Seed >> 8, 17})
	nk, err := keys.Generate("orderer/nansha/1", keys.Ed25519, rng)
	if err != nil {
		tb.Fatal(err)
	}
	c.NanshaKey = nk
	c.Consortium.Orderers["nansha"] = nk
	d := config.NewDraft(c.Trust)
	tk := config.TrustedKeyOf(nk.Public(), keys.RoleOrderer, "nansha", 3)
	if err := d.AddOrderer("nansha", tk); err != nil {
		tb.Fatal(err)
	}
	tx, err := d.Proposal("nansha joins")
	if err != nil {
		tb.Fatal(err)
	}
	for _, o := range Orderers[:3] {
		config.Sign(tx, c.Consortium.Orderers[o], keys.RoleOrderer, o)
	}
	config.Sign(tx, nk, keys.RoleOrderer, "nansha")
	name := func(n string, raw []byte) []byte {
		t, err := schemas.DecodeTx(raw)
		if err != nil {
			tb.Fatal(err)
		}
		c.Keys[n] = t.LicenseKey()
		return raw
	}
	cnBusiness := name("cn-business", sampleIssue(tb, "shenzhen", schemas.KindBusiness, 7))
	hkCert := name("hk-certificate", sampleIssue(tb, "hongkong", schemas.KindCertificate, 7))
	c.sealSteps(tb, []step{
		{batches: []*schemas.Batch{c.batch(tb, "shenzhen", 1, nil, cnBusiness), c.batch(tb, "hongkong", 1, nil, hkCert)}, signers: Orderers[:3]},
		{config: tx, signers: Orderers[:3]},
		{batches: []*schemas.Batch{c.batch(tb, "shenzhen", 3, nil, change(tb, cnBusiness, schemas.ActionSuspend))},
			signers: []string{"macao", "qianhai", "hengqin", "nansha"}},
	})
	return c
}

// newChain makes the consortium (keys from the seeded stream: the same for
// both chains), its trust bundle of rules version rules with zhuhai's
// rotation, and an empty license state in stateDir.
func newChain(tb testing.TB, stateDir string, rules int) *Chain {
	tb.Helper()
	rng := rand.NewChaCha8([32]byte{Seed & 0xff, Seed >> 8})
	cons, err := keys.NewConsortium(ChainID, schemas.CityTokens(), Orderers, keys.Ed25519, rng)
	if err != nil {
		tb.Fatal(err)
	}
	k2, err := keys.Generate("city/zhuhai/2", keys.Ed25519, rng)
	if err != nil {
		tb.Fatal(err)
	}
	trust, err := rotate(cons.Bundle, k2, rules)
	if err != nil {
		tb.Fatal(err)
	}
	st, err := licenses.Open(stateDir, state.Options{NoSync: true, CacheSize: 4 << 20})
	if err != nil {
		tb.Fatal(err)
	}
	c := &Chain{Consortium: cons, Trust: trust, ZhuhaiKey2: k2, Keys: map[string]string{}, State: st}
	tb.Cleanup(c.Close)
	return c
}

// seal assembles, commits and proves one block per step, each certified
// by the first three orderers.
func (c *Chain) seal(tb testing.TB, steps [][]*schemas.Batch) {
	tb.Helper()
	s := make([]step, len(steps))
	for i, b := range steps {
		s[i] = step{batches: b, signers: Orderers[:3]}
	}
	c.sealSteps(tb, s)
}

// step is one block: its batches, or a configuration transaction alone,
// and the orderers that certify it.
type step struct {
	batches []*schemas.Batch
	config  *config.Tx
	signers []string
}

func (c *Chain) sealSteps(tb testing.TB, steps []step) {
	tb.Helper()
	idx := blocktest.NewChain()
	var parent *block.Header
	st := c.State
	trust := c.Trust
	for i, s := range steps {
		h := uint64(i + 1)
		blk, ups, err := block.Assemble(trust, block.Limits{}, block.Input{Parent: parent, Batches: s.batches, Config: s.config,
			Timestamp: BaseTime + int64(h)*1e9, Proposer: "macao", Consensus: blocklogtest.Metadata(h)}, idx, st)
		if err != nil {
			tb.Fatalf("prooftest: block %d: %v", h, err)
		}
		if err := st.Commit(h, ups); err != nil {
			tb.Fatal(err)
		}
		idx.Add(blk)
		rec := blocklogtest.Certify(c.Consortium, blk, s.signers...)
		bundles, err := proof.ForBlock(&rec.Header, &rec.QC, blk, proof.ProveAt(&rec.Header, st.ProveRoot))
		if err != nil {
			tb.Fatalf("prooftest: proofs of block %d: %v", h, err)
		}
		if blk.Config != nil {
			link, err := block.ConfigLinkOf(blk, &rec.QC)
			if err != nil {
				tb.Fatal(err)
			}
			c.ConfigChain = append(c.ConfigChain, link)
			if trust, err = block.NextTrust(trust, blk); err != nil {
				tb.Fatal(err)
			}
		}
		c.Records = append(c.Records, rec)
		c.Blocks = append(c.Blocks, blk)
		c.Committed = append(c.Committed, bundles)
		hdr := blk.Header
		parent = &hdr
	}
	c.Latest = trust
}

// rotate returns a copy of b of rules version rules (0 for 1, so that the
// version 1 bundle is the one made before versions existed) in which
// city/zhuhai/1 is valid until height 2 and k2 from height 3.
func rotate(b *keys.Bundle, k2 *keys.PrivateKey, rules int) (*keys.Bundle, error) {
	raw, err := b.Marshal()
	if err != nil {
		return nil, err
	}
	out, err := keys.ParseBundle(raw)
	if err != nil {
		return nil, err
	}
	out.Rules = rules
	if rules == block.Rules1 {
		out.Rules = 0
	}
	until := uint64(2)
	for i := range out.Keys {
		if out.Keys[i].ID == "city/zhuhai/1" {
			out.Keys[i].ValidUntil = &until
		}
	}
	out.Keys = append(out.Keys, keys.TrustedKey{ID: k2.KeyID(), Role: keys.RoleCity, Member: "zhuhai", Scheme: k2.Scheme(),
		Public: encode(k2.Public().Bytes()), ValidFrom: 3})
	raw, err = out.Marshal()
	if err != nil {
		return nil, err
	}
	return keys.ParseBundle(raw)
}

// Close closes the state store.
func (c *Chain) Close() {
	c.closeOnce.Do(func() { _ = c.State.Close() })
}

// Height is the last block's height.
func (c *Chain) Height() uint64 { return uint64(len(c.Records)) }

// Sign returns a certificate of the first three orderers over h.
func (c *Chain) Sign(h *block.Header) block.QC {
	var qc block.QC
	for _, o := range Orderers[:3] {
		qc.Votes = append(qc.Votes, block.SignVote(c.Consortium.Orderers[o], o, h))
	}
	return qc
}

// Fork returns a header for height h that differs from the chain's only in
// its timestamp (so every root and path still fits), with a valid
// certificate: what an equivocating quorum would sign.
func (c *Chain) Fork(h uint64) proof.SealedHeader {
	hdr := c.Records[h-1].Header
	hdr.Timestamp++
	qc := c.Sign(&hdr)
	return proof.Seal(&hdr, &qc)
}

// Bundle returns the bundle made on commit for transaction index i (among
// the OK transactions) of block h.
func (c *Chain) Bundle(h uint64, i int) *proof.Bundle { return c.Committed[h-1][i] }

// Find returns the bundle made on commit for the first OK transaction of
// block h about the named license.
func (c *Chain) Find(tb testing.TB, h uint64, name string) *proof.Bundle {
	tb.Helper()
	for _, b := range c.Committed[h-1] {
		if b.Key == c.Keys[name] {
			return b
		}
	}
	tb.Fatalf("prooftest: no bundle for %s in block %d", name, h)
	return nil
}

// WriteBlocks writes the chain's block log to dir/blocks, as an orderer
// keeps it.
func (c *Chain) WriteBlocks(tb testing.TB, dir string) {
	tb.Helper()
	s, err := blocklog.OpenStore(filepath.Join(dir, "blocks"), wal.Options{NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Close()
	for _, r := range c.Records {
		if err := s.Append(r); err != nil {
			tb.Fatal(err)
		}
	}
}

// ProveLatest implements proof.Source.
func (c *Chain) ProveLatest(key string) (*smt.Leaf, *smt.Proof, uint64, [32]byte, error) {
	return c.State.ProveRoot(key)
}

// LeafAt implements proof.Source.
func (c *Chain) LeafAt(key string, h uint64) (*smt.Leaf, error) {
	l, err := c.State.GetAt(key, h)
	if errors.Is(err, state.ErrNotFound) {
		return nil, nil
	}
	return l, err
}

// Sealed implements proof.Source.
func (c *Chain) Sealed(h uint64) (*block.Header, *block.QC, error) {
	if h == 0 || h > c.Height() {
		return nil, nil, fmt.Errorf("prooftest: no block %d", h)
	}
	r := c.Records[h-1]
	return &r.Header, &r.QC, nil
}

// Block implements proof.Source.
func (c *Chain) Block(h uint64) (*block.Block, *block.QC, error) {
	if h == 0 || h > c.Height() {
		return nil, nil, fmt.Errorf("prooftest: no block %d", h)
	}
	return c.Blocks[h-1], &c.Records[h-1].QC, nil
}

var _ proof.Source = (*Chain)(nil)

func (c *Chain) batch(tb testing.TB, city string, seq uint64, key keys.Signer, txs ...[]byte) *schemas.Batch {
	tb.Helper()
	if key == nil {
		key = c.Consortium.Cities[city]
	}
	b, err := schemas.SealBatch(ChainID, city, BaseTime+int64(seq)*1e9-5e8, seq, txs, key)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func sampleIssue(tb testing.TB, city string, kind schemas.Kind, seed int64) []byte {
	tb.Helper()
	c, err := schemas.LookupCity(city)
	if err != nil {
		tb.Fatal(err)
	}
	evs, err := bridge.Sample(c, kind, 1, seed)
	if err != nil {
		tb.Fatal(err)
	}
	tx, err := bridge.ToTx(ChainID, c, evs[0])
	if err != nil {
		tb.Fatal(err)
	}
	if tx.Action != schemas.ActionIssue {
		tb.Fatalf("prooftest: sample %s %s %d is a %s", city, kind, seed, tx.Action)
	}
	raw, err := schemas.EncodeTx(tx)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// change returns a transaction of the same city acting on the license of
// issued: a status change with a reason, or an amend repeating the record.
func change(tb testing.TB, issued []byte, a schemas.Action) []byte {
	tb.Helper()
	tx, err := schemas.DecodeTx(issued)
	if err != nil {
		tb.Fatal(err)
	}
	out := *tx
	out.Action = a
	out.EventID = tx.EventID + "-" + string(a)
	out.OccurredAt = "2026-02-01T00:00:00Z"
	out.NativeFormat, out.NativeHash = "", ""
	switch {
	case a == schemas.ActionAmend:
		out.Record.IssuedOn = "2026-02-01"
	default:
		out.Reason = "test: " + string(a)
		out.Record = schemas.Record{ID: tx.Record.ID}
	}
	raw, err := schemas.EncodeTx(&out)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// changeBy is change made by another city of the same jurisdiction.
func changeBy(tb testing.TB, issued []byte, a schemas.Action, city string) []byte {
	tb.Helper()
	return edit(tb, change(tb, issued, a), func(tx *schemas.Tx) {
		tx.City = city
		tx.EventID = city + "-" + tx.EventID
	})
}

// handover is the issuing city's handover of the license of issued to city to.
func handover(tb testing.TB, issued []byte, to string) []byte {
	tb.Helper()
	return edit(tb, change(tb, issued, schemas.ActionHandover), func(tx *schemas.Tx) {
		tx.To, tx.Reason = to, "the company moved to "+to
	})
}

// edit returns the transaction raw changed by f.
func edit(tb testing.TB, raw []byte, f func(tx *schemas.Tx)) []byte {
	tb.Helper()
	tx, err := schemas.DecodeTx(raw)
	if err != nil {
		tb.Fatal(err)
	}
	f(tx)
	out, err := schemas.EncodeTx(tx)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func encode(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// Replay applies the chain block by block to a new license state in dir,
// as an orderer commits, and calls fn after each block's state is applied
// (where orderer.Config.OnCommit runs). It returns the state, open.
func (c *Chain) Replay(tb testing.TB, dir string, fn func(rec *blocklog.Record, blk *block.Block, st *licenses.State)) *licenses.State {
	tb.Helper()
	st, err := licenses.Open(dir, state.Options{NoSync: true, CacheSize: 4 << 20})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	idx := blocktest.NewChain()
	var parent *block.Header
	for i, rec := range c.Records {
		blk := c.Blocks[i]
		ups, err := block.Verify(c.Trust, block.Limits{}, parent, blk, idx, st)
		if err != nil {
			tb.Fatalf("prooftest: replay block %d: %v", i+1, err)
		}
		if err := st.Commit(rec.Header.Height, ups); err != nil {
			tb.Fatal(err)
		}
		idx.Add(blk)
		if fn != nil {
			fn(rec, blk, st)
		}
		parent = &rec.Header
	}
	return st
}

// BuildDataDir builds the chain (of rules version 1) as a stopped `baybus
// up` node would leave it: DIR/trust.json and
// DIR/orderers/hongkong/{blocks,state}. The state is closed, so commands
// can open it.
func BuildDataDir(tb testing.TB) (*Chain, string) { return buildDataDir(tb, Build) }

// BuildDataDir2 is BuildDataDir for the chain of rules version 2.
func BuildDataDir2(tb testing.TB) (*Chain, string) { return buildDataDir(tb, Build2) }

func buildDataDir(tb testing.TB, build func(testing.TB, string) *Chain) (*Chain, string) {
	tb.Helper()
	dir := tb.TempDir()
	node := filepath.Join(dir, "orderers", Orderers[0])
	c := build(tb, filepath.Join(node, "state"))
	c.WriteBlocks(tb, node)
	c.Close()
	raw, err := c.Trust.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	if err := keys.WriteFileAtomic(filepath.Join(dir, keys.TrustFile), raw, 0o644); err != nil {
		tb.Fatal(err)
	}
	return c, dir
}
