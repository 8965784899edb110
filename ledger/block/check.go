package block

import (
	"bytes"
	"fmt"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

// TxCheck is what the orderers' record check found of one transaction of
// a batch: what the rules need of a valid one, or why it is invalid.
type TxCheck struct {
	Key     string // JUR/ID of the license it changes
	Action  schemas.Action
	City    string // the city that signed it (its batch's)
	To      string // a handover's next holder
	ValidTo string // the last day of the record's validity (issue and amend)
	Err     error  // non-nil: the transaction is invalid
	Reason  Reason // why, under rules version 2
	// Rules version 3: what the transaction is about (a license's kind, a
	// grant, an access record), a grant's terms, an access record.
	Kind   schemas.Kind
	Terms  string
	Access *schemas.Access
}

// Checks remembers batches whose signature and transactions have been
// checked, so the work is done once per batch and orderer (normally when
// the batch is ingested, off the consensus path) rather than again when it
// is proposed, verified or proposed anew after a view change. A nil
// *Checks checks every time. Safe for concurrent use.
//
// A remembered batch is matched by its id (a hash of its header, which
// commits to the transactions' hashes), key id and signature bytes; the
// signing key's validity at the block's height is checked on every use.
type Checks struct {
	cache *lru.Cache[string, *checked]
}

type checked struct {
	keyID string
	sig   []byte
	rules int // the rules version the transactions were checked by
	txs   []TxCheck
}

// NewChecks returns a cache of the last size checked batches.
func NewChecks(size int) *Checks {
	c, err := lru.New[string, *checked](max(size, 1))
	if err != nil {
		panic(err) // only for a non-positive size
	}
	return &Checks{cache: c}
}

// Batch checks bt as a block at height would: the signature under the
// city's key valid at height, then each transaction's record check by the
// chain's rules version. bt must come from schemas.DecodeBatch or
// schemas.SealBatch, so its transaction ids agree with its header. A bad
// signature is an error; an invalid transaction is reported in its
// TxCheck.
func (c *Checks) Batch(trust *keys.Bundle, bt *schemas.Batch, height uint64) ([]TxCheck, error) {
	v, err := RulesOf(trust)
	if err != nil {
		return nil, err
	}
	if c != nil {
		if e, ok := c.cache.Get(bt.ID()); ok && e.keyID == bt.KeyID && bytes.Equal(e.sig, bt.Signature) && e.rules == v {
			if _, err := trust.KeyAt(bt.KeyID, keys.RoleCity, bt.City, height); err != nil {
				return nil, fmt.Errorf("schemas: batch %s from %s: %w", bt.ID(), bt.City, err)
			}
			return e.txs, nil
		}
	}
	if err := schemas.VerifyBatch(bt, trust, height); err != nil {
		return nil, err
	}
	txs := make([]TxCheck, len(bt.Txs))
	for i, raw := range bt.Txs {
		var tx *schemas.Tx
		switch {
		case v >= Rules3:
			tx, txs[i].Reason, txs[i].Err = checkTx3(raw, bt, trust)
		case v >= Rules2:
			tx, txs[i].Reason, txs[i].Err = checkTx2(raw, bt)
		default:
			tx, txs[i].Err = checkTx1(raw, bt)
		}
		if txs[i].Err != nil {
			continue
		}
		txs[i].Key, txs[i].Action, txs[i].City = tx.LicenseKey(), tx.Action, tx.City
		if v >= Rules2 {
			txs[i].To, txs[i].ValidTo = tx.To, tx.Record.ValidTo()
		}
		if v >= Rules3 {
			txs[i].Kind, txs[i].Access = tx.Kind, tx.Access
			if tx.Kind == schemas.KindShareGrant && tx.Action == schemas.ActionIssue {
				terms, err := schemas.TermsOf(tx)
				if err != nil {
					txs[i].Err, txs[i].Reason = err, ReasonSchema
					continue
				}
				txs[i].Terms = string(terms)
			}
		}
	}
	if c != nil {
		c.cache.Add(bt.ID(), &checked{keyID: bt.KeyID, sig: bytes.Clone(bt.Signature), rules: v, txs: txs})
	}
	return txs, nil
}
