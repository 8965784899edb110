package block

import (
	"encoding/base64"
	"fmt"
	"time"

	"github.com/baybus/baybus/bridge/ids"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

// Rules version 3: sharing under the owner's control (issue 15). See the
// package documentation, "Rules version 3".

// checkTx3 is the record check of rules version 3: version 2's, on a
// record whose personal fields are digests (schemas.CheckTx3), and for a
// grant or an access record what needs the trust bundle: the reader
// exists, and signed the request of an access record (with a key of
// its, whatever the height: its validity at the block's height is
// checked in compute, apart from this cached check).
func checkTx3(raw []byte, bt *schemas.Batch, trust *keys.Bundle) (*schemas.Tx, Reason, error) {
	tx, err := schemas.DecodeTx(raw)
	if err != nil {
		return nil, ReasonMalformed, err
	}
	if schemas.HasEmptyValue(raw) {
		return nil, ReasonMalformed, fmt.Errorf("block: transaction holds an empty value (null, \"\", {} or []), which decodes as if absent")
	}
	if tx.Chain != bt.Chain || tx.City != bt.City {
		return nil, ReasonEnvelope, fmt.Errorf("block: transaction of chain %q, city %q in a batch of chain %q, city %q", tx.Chain, tx.City, bt.Chain, bt.City)
	}
	if err := schemas.CheckTx3(tx); err != nil {
		return nil, reasonOf3(err), err
	}
	switch tx.Kind {
	case schemas.KindShareGrant:
		if g := tx.Grant; g != nil {
			if _, ok := trust.Reader(g.Reader); !ok {
				return nil, ReasonReader, fmt.Errorf("block: a grant to %q, a reader the trust bundle does not name", g.Reader)
			}
		}
	case schemas.KindShareAccess:
		if why, err := checkSignature(tx, trust); err != nil {
			return nil, why, err
		}
	default:
		if tx.Action.FullRecord() {
			shape, err := schemas.RedactedShape(tx)
			if err != nil {
				return nil, ReasonPersonal, err
			}
			if err := ids.CheckRecord(tx.Jurisdiction, tx.Kind, schemas.IdentifierShape(shape, &tx.Record)); err != nil {
				return nil, ReasonIdentifier, err
			}
		}
	}
	return tx, NoReason, nil
}

// checkSignature verifies the reader's signature over an access record's
// request, with the key it names, which must be the reader's.
func checkSignature(tx *schemas.Tx, trust *keys.Bundle) (Reason, error) {
	a := tx.Access
	if _, ok := trust.Reader(a.Request.Reader); !ok {
		return ReasonReader, fmt.Errorf("block: a request of %q, a reader the trust bundle does not name", a.Request.Reader)
	}
	pk, tk, ok := trust.KeyByID(a.KeyID)
	if !ok || tk.Role != keys.RoleReader || tk.Member != a.Request.Reader {
		return ReasonSignature, fmt.Errorf("block: key %q is not a key of reader %s", a.KeyID, a.Request.Reader)
	}
	msg, err := a.Request.Bytes()
	if err != nil {
		return ReasonSchema, err
	}
	sig, err := base64.StdEncoding.DecodeString(a.Signature)
	if err != nil {
		return ReasonSchema, err
	}
	if err := pk.Verify(keys.Domain{Chain: tx.Chain, Purpose: keys.PurposeShareRequest}, msg, sig); err != nil {
		return ReasonSignature, fmt.Errorf("block: request of %s: %w", a.Request.Reader, err)
	}
	return NoReason, nil
}

// reasonOf3 maps a schemas.CheckTx3 error to its reason.
func reasonOf3(err error) Reason {
	if fe, ok := schemas.AsFieldError(err); ok {
		switch fe.Rule {
		case "personal", "digest-place", "digest":
			return ReasonPersonal
		case "envelope":
			return ReasonEnvelope
		}
	}
	return reasonOf(err)
}

// lookup reads a key's state as of the transaction: what this block
// changed before it, else the parent's.
type lookup func(key string) (License, bool, error)

// apply3 is the transition of rules version 3: the updates a valid
// transaction makes (each with its LastTx and Height set), or why it may
// not. Licenses move as under version 2 (apply2), their leaves naming
// their kind. A grant is a license of its own: issued once, revoked by
// the city that issued it (its key holds the city), expired after its
// window. An access record is made once (its id is its request's); a
// refusal always takes effect, an answer only if the grant it names
// allows it at the block's time, and then it counts one use of the grant.
func apply3(tx *TxCheck, id schemas.TxID, height uint64, at time.Time, get lookup) ([]StateUpdate, Reason, error) {
	prev, seen, err := get(tx.Key)
	if err != nil {
		return nil, NoReason, err
	}
	if tx.Kind == schemas.KindShareAccess {
		return applyAccess(tx, id, height, at, seen, get)
	}
	lic, why := apply2(prev, seen, tx)
	if why != NoReason {
		return nil, why, nil
	}
	lic.LastTx, lic.Height = id, height
	if tx.Action.FullRecord() {
		lic.RecordTx, lic.Kind = id, tx.Kind
		if tx.Kind == schemas.KindShareGrant {
			lic.Terms = tx.Terms
		}
	}
	return []StateUpdate{{Key: tx.Key, License: lic}}, NoReason, nil
}

func applyAccess(tx *TxCheck, id schemas.TxID, height uint64, at time.Time, seen bool, get lookup) ([]StateUpdate, Reason, error) {
	if seen {
		return nil, ReasonExists, nil
	}
	rec := StateUpdate{Key: tx.Key, License: License{Status: schemas.StatusValid, RecordTx: id, LastTx: id, Height: height,
		Owner: tx.City, Kind: schemas.KindShareAccess}}
	a := tx.Access
	if a.Outcome == schemas.OutcomeRefused {
		return []StateUpdate{rec}, NoReason, nil
	}
	gkey := schemas.ShareKey(schemas.KindShareGrant, tx.City, a.Grant)
	g, ok, err := get(gkey)
	switch {
	case err != nil:
		return nil, NoReason, err
	case !ok || g.Kind != schemas.KindShareGrant:
		return nil, ReasonNoGrant, nil
	case g.Status == schemas.StatusRevoked:
		return nil, ReasonGrantRevoked, nil
	}
	terms, err := schemas.ParseTerms([]byte(g.Terms))
	if err != nil {
		return nil, NoReason, fmt.Errorf("block: the terms of %s in the state: %w", gkey, err)
	}
	if why := refusalReason(terms.GrantWindow(g.ValidTo, at)); why != NoReason {
		return nil, why, nil
	}
	if g.Status != schemas.StatusValid {
		return nil, ReasonGrantExpired, nil // an expire event on a grant
	}
	rq := &a.Request
	if why := refusalReason(terms.Covers(rq)); why != NoReason {
		return nil, why, nil
	}
	if rq.Op == schemas.OpDisclose {
		l, ok, err := get(rq.License)
		switch {
		case err != nil:
			return nil, NoReason, err
		case !ok:
			return nil, ReasonNotFound, nil
		case l.Owner != tx.City:
			return nil, ReasonNotIssuer, nil
		case l.Kind != rq.Kind:
			return nil, ReasonWrongKind, nil
		}
	}
	if terms.Limit > 0 && g.Uses >= uint64(terms.Limit) {
		return nil, ReasonOverLimit, nil
	}
	g.Uses++
	g.LastTx, g.Height = id, height
	return []StateUpdate{rec, {Key: gkey, License: g}}, NoReason, nil
}

// refusalReason is the ledger's reason of a refusal the grant's terms
// give.
func refusalReason(r schemas.Refusal) Reason {
	if r == schemas.NoRefusal {
		return NoReason
	}
	if why, ok := ParseReason(string(r)); ok {
		return why
	}
	return ReasonNoGrant
}

// accessKeyValid checks, at the block's height, the validity of the
// reader key whose signature checkTx3 verified.
func accessKeyValid(trust *keys.Bundle, tx *TxCheck, height uint64) error {
	if tx.Access == nil {
		return nil
	}
	_, err := trust.KeyAt(tx.Access.KeyID, keys.RoleReader, tx.Access.Request.Reader, height)
	return err
}
