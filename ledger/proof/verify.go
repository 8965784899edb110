package proof

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/state/smt"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/config"
	"github.com/baybus/baybus/schemas/keys"
	"github.com/baybus/baybus/schemas/merkle"
)

// Verdict is what a valid bundle shows: the license's status as of Height
// (and that block's time), its holder and validity, and the transaction
// proved.
type Verdict struct {
	Key string `json:"key"`
	// Status is the license's effective status as of Height: the status
	// the ledger recorded, or expired when the validity of the record in
	// force ended before the block's time (schemas.EffectiveStatus).
	Status schemas.Status `json:"status"`
	// Recorded is the status the state leaf holds. It differs from Status
	// when the validity ended without an expire event.
	Recorded  schemas.Status `json:"recorded"`
	Height    uint64         `json:"height"`    // the block whose state root the status is proved under
	BlockHash Hash           `json:"blockHash"` // that block's header hash
	StateRoot Hash           `json:"stateRoot"`
	// Time is that block's timestamp: what the status is as of, and, as
	// the bundle's newest header, its age.
	Time time.Time `json:"time"`
	// Rules is the rules version the chain is sealed under (the header's).
	Rules int `json:"rules"`
	// Owner is the city that holds the license (its issuer, or the city it
	// was handed over to), as the state leaf says; "" under rules version
	// 1, whose leaves do not record it.
	Owner string `json:"owner,omitempty"`
	// ValidTo is the last day of the validity of the record in force
	// (YYYY-MM-DD), "" if it has none or the bundle does not show it
	// (rules version 1 without the record).
	ValidTo string `json:"validTo,omitempty"`

	TxID        Hash   `json:"txId"`
	TxHeight    uint64 `json:"txHeight"`    // the block that sealed the transaction
	TxBlockHash Hash   `json:"txBlockHash"` // its header hash
	// LastChange: the transaction proved is the license's last change as
	// of Height (always so for a fresh bundle; for one made on commit,
	// false when a later transaction of the same block changed the license
	// again).
	LastChange bool `json:"lastChange"`

	Tx *schemas.Tx `json:"tx"`
	// Record is the transaction that holds the record in force (the last
	// issue or amend) when the bundle proves it: Tx itself, or the
	// bundle's record part. Nil when Tx is a status change and the bundle
	// carries no record part.
	Record *schemas.Tx `json:"record,omitempty"`

	// Kind is what the key holds, as the state leaf says (rules version
	// 3): a license's kind, a grant or an access record. Uses and Terms
	// are a grant's: the requests answered under it, and its terms.
	Kind  schemas.Kind        `json:"kind,omitempty"`
	Uses  uint64              `json:"uses,omitempty"`
	Terms *schemas.GrantTerms `json:"terms,omitempty"`
}

// Valid reports whether the license was valid as of the verdict's height.
func (v *Verdict) Valid() bool { return v.Status == schemas.StatusValid }

// StatusAt is the status at t as far as the bundle can tell: Status, or
// expired once ValidTo has passed (a license valid in an old proof may
// have expired since). A later suspension or revocation only a fresher
// proof shows.
func (v *Verdict) StatusAt(t time.Time) schemas.Status {
	if t.Before(v.Time) {
		return v.Status
	}
	return schemas.EffectiveStatus(v.Status, v.ValidTo, t)
}

// Shown returns the record to show: Record if the bundle proves it, else Tx.
func (v *Verdict) Shown() *schemas.Tx {
	if v.Record != nil {
		return v.Record
	}
	return v.Tx
}

// Verify checks a bundle against the trust bundle alone (cold: every
// certificate is checked) and returns its verdict, or an *Error naming the
// check that failed.
func Verify(trust *keys.Bundle, b *Bundle) (*Verdict, error) {
	return (&Verifier{trust: trust}).verify(b, false)
}

// DefaultMaxTrusted is how many trusted headers a Verifier remembers.
const DefaultMaxTrusted = 1 << 14

// Verifier verifies bundles and remembers the headers whose certificates
// it has checked (by height: the header hash and the digests of up to
// four certificates that verified for it; about 200 bytes a height, up to
// a bound, the oldest remembered going first). A later bundle with a
// remembered header and a certificate identical to one already verified
// skips the certificate check (bundles of one block, published by one
// orderer, carry the same certificate); any other certificate is checked,
// so a bundle never passes with a certificate that does not hold on its
// own. A bundle that brings a different header for a remembered height is
// refused with ErrFork, even if that header's certificate verifies.
//
// A Verifier is safe for concurrent use.
type Verifier struct {
	trust *keys.Bundle
	// hist, if set, is the configuration history (genesis plus the
	// configuration blocks): the bundle in force at each height, which
	// judges that height's certificate and batch keys. trust is then its
	// genesis.
	hist *config.History
	max  int

	mu      sync.Mutex
	trusted map[uint64]*trustedHeader
	order   []uint64 // insertion order, for eviction

	// sigs remembers batch signatures that verified, by the digest of the
	// key, the signed bytes and the signature: the access records of one
	// batch, and every proof of a license published in one batch, share
	// one signature, and Ed25519 was the largest item of the share
	// route's profile (issue 15). Only a verified signature is kept; the
	// key's validity at each proof's height is checked every time.
	sigMu   sync.Mutex
	sigs    map[[32]byte]struct{}
	sigRing [][32]byte // insertion order, for eviction; at most maxSigs

	checked, skipped      atomic.Uint64
	sigChecked, sigReused atomic.Uint64
}

// maxSigs bounds the batch signatures a verifier remembers (about 100
// bytes each).
const maxSigs = 4096

// sigDigest names one verification: the key, the domain, the message and
// the signature.
func sigDigest(pk *keys.PublicKey, chain string, msg, sig []byte) [32]byte {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(pk.Scheme()), pk.Bytes(), []byte(chain), msg, sig} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
	return [32]byte(h.Sum(nil))
}

// verifyBatchSig verifies a batch signature, or finds it verified before.
func (v *Verifier) verifyBatchSig(pk *keys.PublicKey, chain string, msg, sig []byte) error {
	d := sigDigest(pk, chain, msg, sig)
	v.sigMu.Lock()
	_, ok := v.sigs[d]
	v.sigMu.Unlock()
	if ok {
		v.sigReused.Add(1)
		return nil
	}
	v.sigChecked.Add(1)
	if err := pk.Verify(keys.Domain{Chain: chain, Purpose: keys.PurposeBatch}, msg, sig); err != nil {
		return err
	}
	v.sigMu.Lock()
	defer v.sigMu.Unlock()
	if v.sigs == nil {
		v.sigs = make(map[[32]byte]struct{})
	}
	if _, ok := v.sigs[d]; !ok {
		if len(v.sigRing) >= maxSigs {
			delete(v.sigs, v.sigRing[0])
			v.sigRing = v.sigRing[1:]
		}
		v.sigs[d] = struct{}{}
		v.sigRing = append(v.sigRing, d)
	}
	return nil
}

// NewVerifier returns a warm verifier remembering up to maxTrusted headers
// (DefaultMaxTrusted if maxTrusted <= 0).
func NewVerifier(trust *keys.Bundle, maxTrusted int) *Verifier {
	if maxTrusted <= 0 {
		maxTrusted = DefaultMaxTrusted
	}
	return &Verifier{trust: trust, max: maxTrusted, trusted: map[uint64]*trustedHeader{}}
}

// NewChainVerifier is NewVerifier for a chain whose configuration changed:
// each header and batch is judged by the bundle in force at its height in
// hist (block.FollowConfig builds it from the genesis trust and the
// certified configuration blocks).
func NewChainVerifier(hist *config.History, maxTrusted int) *Verifier {
	v := NewVerifier(hist.Genesis(), maxTrusted)
	v.hist = hist
	return v
}

// VerifyChain is Verify under a configuration history.
func VerifyChain(hist *config.History, b *Bundle) (*Verdict, error) {
	return (&Verifier{trust: hist.Genesis(), hist: hist}).verify(b, false)
}

// trustAt is the bundle in force at height.
func (v *Verifier) trustAt(height uint64) *keys.Bundle {
	if v.hist != nil {
		return v.hist.At(height)
	}
	return v.trust
}

// trustedHeader is a header whose certificate verified, with the digests
// of the certificates seen valid for it.
type trustedHeader struct {
	hash [32]byte
	qcs  [][32]byte // at most maxQCs, newest last
}

const maxQCs = 4

// qcDigest is SHA-256 over the votes, each field length-prefixed.
func qcDigest(qc *block.QC) [32]byte {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	for _, v := range qc.Votes {
		for _, f := range [][]byte{[]byte(v.Signer), []byte(v.KeyID), v.Sig} {
			h.Write(n[:binary.PutUvarint(n[:], uint64(len(f)))])
			h.Write(f)
		}
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Verify checks a bundle, trusting the headers already verified.
func (v *Verifier) Verify(b *Bundle) (*Verdict, error) { return v.verify(b, true) }

// Trusted returns the hash of the header trusted at height, if any.
func (v *Verifier) Trusted(height uint64) ([32]byte, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	t, ok := v.trusted[height]
	if !ok {
		return [32]byte{}, false
	}
	return t.hash, true
}

// seen reports whether the header at height is trusted with hash (known),
// its trusted hash (for a fork), and whether qc is one already verified.
func (v *Verifier) seen(height uint64, hash, qc [32]byte) (known [32]byte, isKnown, sameQC bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	t, ok := v.trusted[height]
	if !ok {
		return known, false, false
	}
	return t.hash, true, t.hash == hash && slices.Contains(t.qcs, qc)
}

// VerifierStats counts certificates and batch signatures checked and
// skipped.
type VerifierStats struct {
	Checked uint64 // certificates verified
	Skipped uint64 // certificates already verified for a trusted header
	// BatchSigsChecked and BatchSigsReused count batch signatures
	// verified, and found verified before (the same key, batch and
	// signature).
	BatchSigsChecked, BatchSigsReused uint64
}

// Stats returns the counters.
func (v *Verifier) Stats() VerifierStats {
	return VerifierStats{Checked: v.checked.Load(), Skipped: v.skipped.Load(),
		BatchSigsChecked: v.sigChecked.Load(), BatchSigsReused: v.sigReused.Load()}
}

type checkedHeader struct {
	h    *block.Header
	hash [32]byte
	used bool
}

func (v *Verifier) verify(b *Bundle, warm bool) (*Verdict, error) {
	if b == nil {
		return nil, fail(ErrFormat, "", "no bundle")
	}
	if err := b.checkShape(); err != nil {
		return nil, failErr(ErrFormat, "", err)
	}
	heads := make(map[uint64]*checkedHeader, len(b.Headers))
	for i := range b.Headers {
		if err := v.header(&b.Headers[i], i, heads, warm); err != nil {
			return nil, err
		}
	}
	use := func(part string, height uint64) (*checkedHeader, error) {
		hd, ok := heads[height]
		if !ok {
			return nil, fail(ErrHeader, part, "the bundle has no header at height %d", height)
		}
		hd.used = true
		return hd, nil
	}

	tx, txHead, err := v.tx("tx", b, &b.Tx, use)
	if err != nil {
		return nil, err
	}
	var rec *schemas.Tx
	if b.Record != nil {
		if rec, _, err = v.tx("record", b, b.Record, use); err != nil {
			return nil, err
		}
	}
	st := &b.State
	sHead, err := use("state", st.Height)
	if err != nil {
		return nil, err
	}
	for _, hd := range heads {
		if !hd.used {
			return nil, fail(ErrHeader, fmt.Sprintf("header %d", hd.h.Height), "header is not used by any part")
		}
	}

	leaf := st.Leaf
	switch {
	case leaf == nil:
		return nil, fail(ErrStateProof, "state", "no leaf: a license proof must show the license's state")
	case leaf.Key != b.Key:
		return nil, fail(ErrStateProof, "state", "leaf of %q, bundle for %q", leaf.Key, b.Key)
	}
	if err := smt.VerifyProof(sHead.h.StateRoot, b.Key, leaf, &st.Proof); err != nil {
		return nil, failErr(ErrStateProof, "state", err)
	}
	switch {
	case leaf.Height > st.Height:
		return nil, fail(ErrStateProof, "state", "leaf changed at %d, after the state's height %d", leaf.Height, st.Height)
	case st.Height < b.Tx.Height:
		return nil, fail(ErrStateProof, "state", "state at %d is older than the transaction at %d", st.Height, b.Tx.Height)
	case leaf.TxID == b.Tx.ID && leaf.Height != b.Tx.Height:
		return nil, fail(ErrStateProof, "state", "leaf says the transaction was sealed at %d, the bundle at %d", leaf.Height, b.Tx.Height)
	case leaf.TxID != b.Tx.ID && leaf.Height < b.Tx.Height:
		return nil, fail(ErrStateProof, "state", "leaf's last change at %d precedes the transaction at %d", leaf.Height, b.Tx.Height)
	}
	rules := sHead.h.RulesVersion()
	if (leaf.Owner != "") != (rules >= block.Rules2) {
		return nil, fail(ErrStateProof, "state", "a leaf that names its holder %q under a header of rules version %d", leaf.Owner, rules)
	}
	if (leaf.Kind != "") != (rules >= block.Rules3) {
		return nil, fail(ErrStateProof, "state", "a leaf that names its kind %q under a header of rules version %d", leaf.Kind, rules)
	}
	vd := &Verdict{
		Key: b.Key, Recorded: leaf.Status, Height: st.Height, BlockHash: sHead.hash, StateRoot: sHead.h.StateRoot,
		Time: time.Unix(0, sHead.h.Timestamp).UTC(), Rules: rules, Owner: leaf.Owner,
		TxID: b.Tx.ID, TxHeight: b.Tx.Height, TxBlockHash: txHead.hash, LastChange: leaf.TxID == b.Tx.ID, Tx: tx,
	}
	switch {
	case b.Record != nil:
		switch {
		case b.Record.ID != leaf.RecordHash:
			return nil, fail(ErrRecord, "record", "record part %x is not the record in force %x", b.Record.ID, leaf.RecordHash)
		case b.Record.ID == b.Tx.ID:
			return nil, fail(ErrRecord, "record", "record part repeats the transaction")
		case !rec.Action.FullRecord():
			return nil, fail(ErrRecord, "record", "record part is a %s, not an issue or amend", rec.Action)
		case b.Record.Height > b.Tx.Height && vd.LastChange:
			return nil, fail(ErrRecord, "record", "record sealed at %d after the last change at %d", b.Record.Height, b.Tx.Height)
		}
		vd.Record = rec
	case leaf.RecordHash == b.Tx.ID:
		vd.Record = tx
	}
	if rules >= block.Rules2 && vd.Record != nil && vd.Record.Record.ValidTo() != leaf.ValidTo {
		return nil, fail(ErrStateProof, "state", "leaf says the validity ends %q, the record in force %q", leaf.ValidTo, vd.Record.Record.ValidTo())
	}
	if rules >= block.Rules3 {
		if err := v3Leaf(vd, leaf); err != nil {
			return nil, err
		}
	}
	vd.ValidTo = validTo(leaf, vd.Record)
	vd.Status = schemas.EffectiveStatus(leaf.Status, vd.ValidTo, vd.Time)
	return vd, nil
}

// v3Leaf checks what a leaf of rules version 3 adds against the record in
// force, when the bundle shows it: the kind, and a grant's terms; and
// fills the verdict's.
func v3Leaf(vd *Verdict, leaf *smt.Leaf) error {
	vd.Kind, vd.Uses = leaf.Kind, leaf.Uses
	if rec := vd.Record; rec != nil {
		if rec.Kind != leaf.Kind {
			return fail(ErrStateProof, "state", "leaf of kind %s, the record in force is a %s", leaf.Kind, rec.Kind)
		}
		if leaf.Kind == schemas.KindShareGrant {
			terms, err := schemas.TermsOf(rec)
			if err != nil {
				return failErr(ErrRecord, "record", err)
			}
			if string(terms) != leaf.Terms {
				return fail(ErrStateProof, "state", "leaf holds other terms than the grant in force")
			}
		}
	}
	if leaf.Kind == schemas.KindShareGrant {
		terms, err := schemas.ParseTerms([]byte(leaf.Terms))
		if err != nil {
			return failErr(ErrStateProof, "state", err)
		}
		vd.Terms = terms
	}
	return nil
}

// validTo is the last day of the license's validity: the leaf's (rules
// version 2), or under rules version 1, whose leaves do not hold it, the
// record in force's if the bundle shows it. A record sealed under rules
// version 1 may carry a date the calendar does not have; EffectiveStatus
// then leaves the status as recorded.
func validTo(leaf *smt.Leaf, rec *schemas.Tx) string {
	if leaf.Owner != "" || rec == nil {
		return leaf.ValidTo
	}
	return rec.Record.ValidTo()
}

// header checks one sealed header: canonical binary, view, chain, and its
// certificate (skipped for a trusted header); a second header for a height
// of the bundle or a trusted height is a fork.
func (v *Verifier) header(s *SealedHeader, i int, heads map[uint64]*checkedHeader, warm bool) error {
	part := fmt.Sprintf("header %d", i)
	h, err := s.Header()
	if err != nil {
		return failErr(ErrHeader, part, err)
	}
	part = fmt.Sprintf("header %d", h.Height)
	if raw, _ := h.MarshalBinary(); !bytes.Equal(raw, s.Raw) {
		return fail(ErrHeader, part, "header bytes are not canonical")
	}
	hash := h.Hash()
	if s.View != nil && !viewEqual(ViewOf(h), s.View) {
		return fail(ErrHeader, part, "decoded view differs from the header bytes")
	}
	if h.Chain != v.trust.Chain {
		return fail(ErrHeader, part, "header of chain %q, trust bundle for %q", h.Chain, v.trust.Chain)
	}
	if rules, err := block.RulesOf(v.trustAt(h.Height)); err != nil || rules != h.RulesVersion() {
		return fail(ErrHeader, part, "header of rules version %d, the trust bundle's chain is of rules version %d", h.RulesVersion(), rules)
	}
	if prev, ok := heads[h.Height]; ok {
		if prev.hash != hash {
			return fail(ErrFork, part, "two headers for height %d: %x and %x", h.Height, prev.hash, hash)
		}
		return fail(ErrHeader, part, "header %d given twice", h.Height)
	}
	if i > 0 && h.Height < maxHeight(heads) {
		return fail(ErrHeader, part, "headers out of height order")
	}
	heads[h.Height] = &checkedHeader{h: h, hash: hash}

	if !warm {
		if err := v.checkQC(h, &s.QC, part); err != nil {
			return err
		}
		v.checked.Add(1)
		return nil
	}
	digest := qcDigest(&s.QC)
	known, isKnown, sameQC := v.seen(h.Height, hash, digest)
	if sameQC {
		v.skipped.Add(1)
		return nil
	}
	if err := v.checkQC(h, &s.QC, part); err != nil {
		return err
	}
	v.checked.Add(1)
	if isKnown && known != hash {
		return fail(ErrFork, part, "header %x at height %d, already trusted %x there", hash, h.Height, known)
	}
	v.remember(h.Height, hash, digest)
	return nil
}

func (v *Verifier) remember(height uint64, hash, qc [32]byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	t, ok := v.trusted[height]
	if !ok {
		t = &trustedHeader{hash: hash}
		v.trusted[height] = t
		v.order = append(v.order, height)
		for len(v.order) > v.max {
			delete(v.trusted, v.order[0])
			v.order = v.order[1:]
		}
	}
	if t.hash != hash || slices.Contains(t.qcs, qc) {
		return // a concurrent Verify trusted another header first: its fork check ran
	}
	if len(t.qcs) == maxQCs {
		t.qcs = t.qcs[1:]
	}
	t.qcs = append(t.qcs, qc)
}

func maxHeight(heads map[uint64]*checkedHeader) uint64 {
	var m uint64
	for h := range heads {
		m = max(m, h)
	}
	return m
}

// checkQC checks the certificate, telling a key the trust bundle does not
// hold for that orderer and height (ErrKeyNotValid) from any other fault
// (ErrQuorum: bad signature, signer counted twice, below quorum).
func (v *Verifier) checkQC(h *block.Header, qc *block.QC, part string) error {
	for _, vote := range qc.Votes {
		if _, err := v.trustAt(h.Height).KeyAt(vote.KeyID, keys.RoleOrderer, vote.Signer, h.Height); err != nil {
			if owner, ok := keyOwner(v.trustAt(h.Height), vote.KeyID); ok && (owner.Role != keys.RoleOrderer || owner.Member != vote.Signer) {
				return fail(ErrQuorum, part, "vote of %s signed with %s's key %q", vote.Signer, owner.Member, vote.KeyID)
			}
			return failErr(ErrKeyNotValid, part, err)
		}
	}
	if err := block.VerifyQC(v.trustAt(h.Height), h, qc); err != nil {
		return failErr(ErrQuorum, part, err)
	}
	return nil
}

func keyOwner(trust *keys.Bundle, id string) (keys.TrustedKey, bool) {
	for _, k := range trust.Keys {
		if k.ID == id {
			return k, true
		}
	}
	return keys.TrustedKey{}, false
}

// tx checks one transaction part: its bytes, its batch path and
// signature, and its block path under the header at its height.
func (v *Verifier) tx(part string, b *Bundle, p *TxProof, use func(string, uint64) (*checkedHeader, error)) (*schemas.Tx, *checkedHeader, error) {
	if schemas.ComputeTxID(p.Bytes) != [32]byte(p.ID) {
		return nil, nil, fail(ErrRecord, part, "transaction bytes do not hash to its id %x", p.ID)
	}
	tx, err := schemas.DecodeTx(p.Bytes)
	if err != nil {
		return nil, nil, failErr(ErrRecord, part, err)
	}
	if tx.Chain != v.trust.Chain {
		return nil, nil, fail(ErrRecord, part, "transaction of chain %q, trust bundle for %q", tx.Chain, v.trust.Chain)
	}
	if city, err := schemas.LookupCity(tx.City); err != nil || city.Jurisdiction != tx.Jurisdiction {
		return nil, nil, fail(ErrRecord, part, "city %q is not in jurisdiction %q", tx.City, tx.Jurisdiction)
	}
	switch {
	case part == "tx" && !slices.Contains(tx.StateKeys(), b.Key):
		// An access record also changes the grant it is answered under.
		return nil, nil, fail(ErrRecord, part, "transaction changes %q, bundle about %q", tx.StateKeys(), b.Key)
	case part != "tx" && tx.LicenseKey() != b.Key:
		return nil, nil, fail(ErrRecord, part, "transaction is about %q, bundle about %q", tx.LicenseKey(), b.Key)
	}

	bp := &p.Batch
	bh := bp.Header()
	switch {
	case bh.Chain != v.trust.Chain:
		return nil, nil, fail(ErrBatchSignature, part, "batch of chain %q, trust bundle for %q", bh.Chain, v.trust.Chain)
	case bh.City != tx.City:
		return nil, nil, fail(ErrBatchSignature, part, "batch of %s carries a transaction of %s", bh.City, tx.City)
	}
	if merkle.VerifyInclusion(p.ID, bp.Index, uint64(bh.Count), hashes(bp.Path), bh.Root) != nil {
		return nil, nil, fail(ErrBatchPath, part, "transaction %x at %d of %d does not lead to the batch root %x", p.ID[:4], bp.Index, bh.Count, bh.Root[:4])
	}
	pk, err := v.trustAt(p.Height).KeyAt(bp.KeyID, keys.RoleCity, bh.City, p.Height)
	if err != nil {
		if owner, ok := keyOwner(v.trustAt(p.Height), bp.KeyID); ok && (owner.Role != keys.RoleCity || owner.Member != bh.City) {
			return nil, nil, fail(ErrBatchSignature, part, "batch of %s signed with %s's key %q", bh.City, owner.Member, bp.KeyID)
		}
		return nil, nil, failErr(ErrKeyNotValid, part, err)
	}
	if err := v.verifyBatchSig(pk, bh.Chain, bh.SignedBytes(), bp.Signature); err != nil {
		return nil, nil, failErr(ErrBatchSignature, part, err)
	}

	hd, err := use(part, p.Height)
	if err != nil {
		return nil, nil, err
	}
	if p.Size != uint64(hd.h.TxCount) {
		return nil, nil, fail(ErrTxPath, part, "tree size %d, block %d has %d transactions", p.Size, p.Height, hd.h.TxCount)
	}
	if merkle.VerifyInclusion(p.ID, p.Index, p.Size, hashes(p.Path), hd.h.TxRoot) != nil {
		return nil, nil, fail(ErrTxPath, part, "transaction %x at %d of %d does not lead to the transaction root %x of block %d", p.ID[:4], p.Index, p.Size, hd.h.TxRoot[:4], p.Height)
	}
	return tx, hd, nil
}

func viewEqual(a, b *HeaderView) bool {
	return a.Rules == b.Rules && a.Chain == b.Chain && a.Height == b.Height && a.Hash == b.Hash && a.Prev == b.Prev && a.TxRoot == b.TxRoot &&
		a.ResultsHash == b.ResultsHash && a.StateRoot == b.StateRoot && a.Timestamp == b.Timestamp &&
		a.Proposer == b.Proposer && a.TxCount == b.TxCount && bytes.Equal(a.Consensus, b.Consensus)
}

func hashes(p []Hash) []merkle.Hash {
	out := make([]merkle.Hash, len(p))
	for i, h := range p {
		out[i] = h
	}
	return out
}
