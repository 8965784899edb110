package reconcile

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/disclose"
)

// Disclosures is the owner city's own store of the disclosures of the
// records it published (on a chain of rules version 3 the ledger holds
// natural persons' names and identity numbers only as salted digests;
// gateway/share's Store implements it). Reconcile opens the city's records
// with it, so they compare with the register's plaintext.
type Disclosures interface {
	// Disclosures returns the disclosures kept of the record of
	// transaction id and the native input's hash ("sha256:<hex>", or ""),
	// or ok false if the store holds none.
	Disclosures(id schemas.TxID) (items []disclose.Item, nativeHash string, ok bool, err error)
}

// ErrDigests: the ledger holds a record of the city with personal fields
// as digests, and the run has no store of the city's disclosures to open
// it with (or the store lacks it).
var ErrDigests = errors.New("reconcile: the city's records hold personal fields as digests (rules version 3)")

// sdMember is how a canonical record holds digests.
var sdMember = []byte(`"_sd"`)

// opener opens records with the owner's disclosures; a nil store opens
// nothing.
type opener struct{ d Disclosures }

// open returns the canonical bytes of record raw (of kind, in transaction
// id) with its personal fields opened, and the native hash the store kept
// for it. A record without digests is returned as it is; one the store
// holds nothing of too, with found false (another city's record).
func (o opener) open(kind schemas.Kind, id schemas.TxID, raw []byte) (rec []byte, native [32]byte, found bool, err error) {
	if !bytes.Contains(raw, sdMember) {
		return raw, native, true, nil
	}
	if o.d == nil {
		return raw, native, false, nil
	}
	items, nh, ok, err := o.d.Disclosures(id)
	if err != nil {
		return nil, native, false, fmt.Errorf("reconcile: the disclosures of %s: %w", schemas.FormatID(id), err)
	}
	if !ok {
		return raw, native, false, nil
	}
	var r schemas.Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, native, false, fmt.Errorf("%w: record of %s: %w", ErrLedger, schemas.FormatID(id), err)
	}
	opened, _, err := disclose.Open(kind, &r, items)
	if err != nil {
		return nil, native, false, fmt.Errorf("%w: the store's disclosures of %s do not open it: %w", ErrDigests, schemas.FormatID(id), err)
	}
	if rec, err = schemas.Canonical(opened); err != nil {
		return nil, native, false, err
	}
	if bytes.Contains(rec, sdMember) {
		return nil, native, false, fmt.Errorf("%w: the store does not disclose every personal field of %s", ErrDigests, schemas.FormatID(id))
	}
	if h, ok := strings.CutPrefix(nh, "sha256:"); ok && len(h) == 64 {
		if _, err := hex.Decode(native[:], []byte(h)); err != nil {
			native = [32]byte{}
		}
	}
	return rec, native, true, nil
}
