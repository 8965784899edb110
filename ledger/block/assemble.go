package block

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/config"
	"github.com/baybus/baybus/schemas/keys"
	"github.com/baybus/baybus/schemas/merkle"
)

// Chain answers what the chain below the block already holds.
type Chain interface {
	TxSeen(id schemas.TxID) bool
	BatchSeen(batchID string) bool
}

// License is a license's state as the ledger keeps it.
type License struct {
	Status   schemas.Status // as recorded; see schemas.EffectiveStatus for the status at a time
	RecordTx schemas.TxID   // the last issue or amend transaction: it holds the record
	LastTx   schemas.TxID   // the last transaction that changed the license
	Height   uint64         // height of LastTx
	// Owner is the city that holds the license: its issuer, or the city
	// it was last handed over to. Rules version 2; "" under version 1,
	// which does not record it.
	Owner string
	// ValidTo is the last day of the validity of the record in force
	// (YYYY-MM-DD), "" for none. Rules version 2; "" under version 1.
	ValidTo string
	// Kind is what the key holds (a license's kind, a grant, an access
	// record); Uses counts a grant's answered requests and Terms are its
	// terms (schemas.GrantTerms, canonical JSON). Rules version 3.
	Kind  schemas.Kind
	Uses  uint64
	Terms string
}

// StateUpdate is one license's new state, written by an OK transaction.
type StateUpdate struct {
	Key     string // JUR/ID
	License License
}

// State is the license state as of the parent block.
type State interface {
	// License returns the committed state of a license; ok is false if the
	// ledger has never seen it.
	License(key string) (l License, ok bool, err error)
	// PreviewRoot returns the state root after applying updates at height on
	// top of the committed state, without committing them.
	PreviewRoot(height uint64, updates []StateUpdate) ([32]byte, error)
}

// Limits bound a block. The zero value means DefaultLimits.
type Limits struct {
	MaxBatches int // batches per block
	MaxTxs     int // transactions per block, over all batches
}

// DefaultLimits: 256 batches and 65,536 transactions per block. Blocks are
// normally cut much earlier by the consensus engine's count, byte and
// interval settings; these only bound what a proposer may send.
var DefaultLimits = Limits{MaxBatches: 256, MaxTxs: 1 << 16}

// Input is what a proposer has: the batches in the order the engine gave them.
type Input struct {
	Parent    *Header // nil for the first block
	Batches   []*schemas.Batch
	Timestamp int64
	Proposer  string
	Consensus []byte
	// Config, if set, makes a configuration block: it must come alone,
	// with no batches (configblock.go).
	Config *config.Tx
}

// Assemble builds the next block from in. A bad batch is an error wrapping
// ErrBadBatch: the caller drops it and assembles again.
func Assemble(trust *keys.Bundle, lim Limits, in Input, chain Chain, st State) (*Block, []StateUpdate, error) {
	return (*Checks)(nil).Assemble(trust, lim, in, chain, st)
}

// Assemble is the package's Assemble with batches checked through c.
func (c *Checks) Assemble(trust *keys.Bundle, lim Limits, in Input, chain Chain, st State) (*Block, []StateUpdate, error) {
	v, err := RulesOf(trust)
	if err != nil {
		return nil, nil, err
	}
	h := Header{Rules: headerRules(v), Chain: trust.Chain, Height: 1, Timestamp: in.Timestamp, Proposer: in.Proposer, Consensus: in.Consensus}
	if in.Parent != nil {
		h.Height = in.Parent.Height + 1
		h.Prev = in.Parent.Hash()
		h.Timestamp = max(h.Timestamp, in.Parent.Timestamp)
	}
	b := &Block{Header: h, Batches: in.Batches, Config: in.Config}
	updates, err := c.compute(trust, lim, b, chain, st)
	if err != nil {
		return nil, nil, err
	}
	return b, updates, nil
}

// Verify recomputes a proposed block over parent and refuses it unless every
// derived field matches. It returns the state updates the block makes.
func Verify(trust *keys.Bundle, lim Limits, parent *Header, b *Block, chain Chain, st State) ([]StateUpdate, error) {
	return (*Checks)(nil).Verify(trust, lim, parent, b, chain, st)
}

// Verify is the package's Verify with batches checked through c.
func (c *Checks) Verify(trust *keys.Bundle, lim Limits, parent *Header, b *Block, chain Chain, st State) ([]StateUpdate, error) {
	if err := checkRules(trust, &b.Header); err != nil {
		return nil, err
	}
	want := Header{Chain: trust.Chain, Height: 1}
	if parent != nil {
		want.Height = parent.Height + 1
		want.Prev = parent.Hash()
		if b.Header.Timestamp < parent.Timestamp {
			return nil, fmt.Errorf("%w: timestamp %d before parent's %d", ErrChain, b.Header.Timestamp, parent.Timestamp)
		}
	}
	if b.Header.Chain != want.Chain || b.Header.Height != want.Height || b.Header.Prev != want.Prev {
		return nil, fmt.Errorf("%w: header (chain %q height %d) does not extend parent (chain %q height %d)",
			ErrChain, b.Header.Chain, b.Header.Height, want.Chain, want.Height-1)
	}
	if trust.OrdererIndex(b.Header.Proposer) < 0 {
		return nil, fmt.Errorf("%w: proposer %q is not an orderer", ErrMismatch, b.Header.Proposer)
	}
	got := *b
	got.Results = nil
	updates, err := c.compute(trust, lim, &got, chain, st)
	if err != nil {
		return nil, err
	}
	switch {
	case !slices.Equal(got.Results, b.Results):
		return nil, fmt.Errorf("%w: transaction results", ErrMismatch)
	case got.Header.TxRoot != b.Header.TxRoot:
		return nil, fmt.Errorf("%w: transaction root", ErrMismatch)
	case got.Header.ResultsHash != b.Header.ResultsHash:
		return nil, fmt.Errorf("%w: results hash", ErrMismatch)
	case got.Header.StateRoot != b.Header.StateRoot:
		return nil, fmt.Errorf("%w: state root", ErrMismatch)
	case got.Header.TxCount != b.Header.TxCount:
		return nil, fmt.Errorf("%w: transaction count", ErrMismatch)
	}
	return updates, nil
}

// compute fills b's Results, TxRoot, ResultsHash, StateRoot and TxCount from
// its batches. It is the one rule Assemble and Verify share.
func (c *Checks) compute(trust *keys.Bundle, lim Limits, b *Block, chain Chain, st State) ([]StateUpdate, error) {
	if b.Config != nil {
		return nil, computeConfig(trust, b, st)
	}
	if lim == (Limits{}) {
		lim = DefaultLimits
	}
	if len(b.Batches) > lim.MaxBatches {
		return nil, fmt.Errorf("%w: %d batches, limit %d", ErrBadBatch, len(b.Batches), lim.MaxBatches)
	}
	if n := b.TxCount(); n > lim.MaxTxs {
		return nil, fmt.Errorf("%w: %d transactions, limit %d", ErrBadBatch, n, lim.MaxTxs)
	}
	height := b.Header.Height
	batchIDs := make(map[string]bool, len(b.Batches))
	checks := make([][]TxCheck, len(b.Batches))
	for i, bt := range b.Batches {
		id := bt.ID()
		if batchIDs[id] || chain.BatchSeen(id) {
			return nil, fmt.Errorf("%w: batch %d (%s) is already ordered", ErrBadBatch, i, id)
		}
		batchIDs[id] = true
		var err error
		if checks[i], err = c.Batch(trust, bt, height); err != nil {
			return nil, fmt.Errorf("%w: batch %d: %w", ErrBadBatch, i, err)
		}
	}

	results := make([]Result, 0, b.TxCount())
	okIDs := make([]schemas.TxID, 0, b.TxCount())
	inBlock := make(map[schemas.TxID]bool, b.TxCount())
	pending := map[string]License{} // licenses changed earlier in this block
	var order []string
	v := b.Header.RulesVersion()
	at := time.Unix(0, b.Header.Timestamp)
	get := func(key string) (License, bool, error) {
		if l, ok := pending[key]; ok {
			return l, true, nil
		}
		return st.License(key)
	}
	for bi, bt := range b.Batches {
		for ti := range checks[bi] {
			tx := &checks[bi][ti]
			id := bt.IDs[ti]
			if inBlock[id] || chain.TxSeen(id) {
				results = append(results, Duplicate)
				continue
			}
			inBlock[id] = true
			if tx.Err != nil {
				results = append(results, Refused(Invalid, tx.Reason))
				continue
			}
			if v >= Rules3 {
				if err := accessKeyValid(trust, tx, height); err != nil {
					results = append(results, Refused(Invalid, ReasonSignature))
					continue
				}
				ups, why, err := apply3(tx, id, height, at, get)
				if err != nil {
					return nil, fmt.Errorf("block: state lookup %s: %w", tx.Key, err)
				}
				if why != NoReason {
					results = append(results, Refused(why.outcome(), why))
					continue
				}
				for _, u := range ups {
					if _, again := pending[u.Key]; !again {
						order = append(order, u.Key)
					}
					pending[u.Key] = u.License
				}
				results = append(results, OK)
				okIDs = append(okIDs, id)
				continue
			}
			key := tx.Key
			prev, seen := pending[key]
			if !seen {
				var err error
				if prev, seen, err = st.License(key); err != nil {
					return nil, fmt.Errorf("block: state lookup %s: %w", key, err)
				}
			}
			var lic License
			if v >= Rules2 {
				var why Reason
				if lic, why = apply2(prev, seen, tx); why != NoReason {
					results = append(results, Refused(Rejected, why))
					continue
				}
			} else {
				var prevStatus schemas.Status
				if seen {
					prevStatus = prev.Status
				}
				next, allowed := schemas.StatusAfter(prevStatus, tx.Action)
				if !allowed {
					results = append(results, Rejected)
					continue
				}
				lic = License{Status: next, RecordTx: prev.RecordTx}
			}
			lic.LastTx, lic.Height = id, height
			if tx.Action.FullRecord() {
				lic.RecordTx = id
			}
			if _, again := pending[key]; !again {
				order = append(order, key)
			}
			pending[key] = lic
			results = append(results, OK)
			okIDs = append(okIDs, id)
		}
	}
	updates := make([]StateUpdate, len(order))
	for i, k := range order {
		updates[i] = StateUpdate{Key: k, License: pending[k]}
	}
	root, err := st.PreviewRoot(height, updates)
	if err != nil {
		return nil, fmt.Errorf("block: state root: %w", err)
	}
	b.Results = results
	b.Header.TxRoot = merkle.Root(okIDs)
	b.Header.ResultsHash = ResultsHash(results)
	b.Header.StateRoot = root
	b.Header.TxCount = uint32(len(okIDs))
	return updates, nil
}

// checkTx1 is the record check of rules version 1: the transaction decodes
// strictly from canonical bytes and its envelope agrees with the batch that
// carries it and with the city registry. (The full check was the
// gateway's alone; rules version 2 makes it the ledger's, checkTx2.)
func checkTx1(raw []byte, bt *schemas.Batch) (*schemas.Tx, error) {
	tx, err := schemas.DecodeTx(raw)
	if err != nil {
		return nil, err
	}
	if tx.IsShare() || tx.Record.HasDigests() {
		// Members of rules version 3, which did not decode when version
		// 1 was made.
		return nil, fmt.Errorf("block: a grant, an access record or digests, which rules version 1 does not know")
	}
	if tx.To != "" || hasTo(raw) {
		// Before the handover action the envelope had no "to": such a
		// transaction was not a transaction.
		return nil, fmt.Errorf("block: transaction has a member \"to\", which rules version 1 does not know")
	}
	if tx.V != schemas.TxVersion || tx.Chain != bt.Chain || tx.City != bt.City {
		return nil, fmt.Errorf("block: transaction envelope (v %d, chain %q, city %q) disagrees with its batch", tx.V, tx.Chain, tx.City)
	}
	city, err := schemas.LookupCity(tx.City)
	if err != nil || city.Jurisdiction != tx.Jurisdiction {
		return nil, fmt.Errorf("block: city %q is not in jurisdiction %q", tx.City, tx.Jurisdiction)
	}
	if tx.Record.ID == "" || tx.EventID == "" || !slices.Contains(schemas.Kinds, tx.Kind) || !slices.Contains(schemas.Actions, tx.Action) {
		return nil, fmt.Errorf("block: transaction lacks id, event id, kind or action")
	}
	return tx, nil
}

// hasTo reports whether a canonical transaction that decoded has a
// top-level member "to", whatever its value. Members are sorted and "v"
// is the last: the one before it is "record", an object, unless "to" (the
// only member that sorts between them) is there. A nested "to" (a
// validity's) sits inside the record.
func hasTo(raw []byte) bool {
	i := bytes.LastIndex(raw, []byte(`,"v":`))
	return i > 0 && raw[i-1] != '}'
}

// VerifyStored checks a block read back from storage or received by sync
// against its parent, its own batches and its certificate, without the
// state: hash link, batch signatures, TxRoot over the OK results and
// ResultsHash. (The state root is checked by replaying the state.)
func VerifyStored(trust *keys.Bundle, parent *Header, b *Block, qc *QC) error {
	var prev [32]byte
	height := uint64(1)
	if parent != nil {
		prev, height = parent.Hash(), parent.Height+1
	}
	if b.Header.Height != height || !bytes.Equal(b.Header.Prev[:], prev[:]) {
		return fmt.Errorf("%w: block %d does not link to parent %d", ErrChain, b.Header.Height, height-1)
	}
	return VerifyStoredUnlinked(trust, b, qc)
}

// VerifyStoredUnlinked is VerifyStored but for the link to the parent: for
// a block whose parent is not at hand (the one a state snapshot is taken
// at, ledger/snapshot), whose place in the chain its certificate vouches
// for.
func VerifyStoredUnlinked(trust *keys.Bundle, b *Block, qc *QC) error {
	if err := checkRules(trust, &b.Header); err != nil {
		return err
	}
	if b.Config != nil {
		if err := checkConfig(trust, b); err != nil {
			return err
		}
	}
	for i, bt := range b.Batches {
		if err := schemas.VerifyBatch(bt, trust, b.Header.Height); err != nil {
			return fmt.Errorf("%w: block %d batch %d: %v", ErrBadBatch, b.Header.Height, i, err)
		}
	}
	if err := CheckContent(b); err != nil {
		return err
	}
	return VerifyQC(trust, &b.Header, qc)
}

// CheckContent checks a block's body against its header, with hashes only:
// the results hash, and the transaction root and count over the OK
// transactions. With the header chain linked up to a certified header,
// it makes every block below that header certified too, without a
// signature checked (ledger/node.Join checks a copied archive so).
func CheckContent(b *Block) error {
	if ResultsHash(b.Results) != b.Header.ResultsHash {
		return fmt.Errorf("%w: block %d results hash", ErrMismatch, b.Header.Height)
	}
	ok := b.OKIDs()
	if merkle.Root(ok) != b.Header.TxRoot || uint32(len(ok)) != b.Header.TxCount {
		return fmt.Errorf("%w: block %d transaction root", ErrMismatch, b.Header.Height)
	}
	return nil
}
