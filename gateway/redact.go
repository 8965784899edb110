package gateway

import (
	"context"
	"fmt"
	"io"

	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/disclose"
)

// Redactor commits to the personal fields of a city's records (rules
// version 3, issue 15 §1): the transaction the gateway publishes carries a
// salted digest in place of each personal field, and the gateway keeps the
// disclosures (salt, name, value) to disclose a field later, to a reader
// the city grants it to. gateway/share implements it over the city's
// store.
type Redactor interface {
	// Redact returns tx, checked by the rules of the chain's version 2,
	// with its personal fields as digests, and what must be kept to
	// disclose them. It does not keep anything yet.
	Redact(tx *schemas.Tx) (*schemas.Tx, *Kept, error)
	// Keep makes what Redact returned durable (fsynced) before the gateway
	// publishes the transactions: persist before act, so a digest on the
	// bus always has its disclosure in the city's store.
	Keep(ctx context.Context, kept []*Kept) error
}

// Kept is what a gateway keeps of one transaction it redacted.
type Kept struct {
	TxID schemas.TxID // of the transaction as published
	Tx   *schemas.Tx  // as published: digests in place of personal fields
	// Items are the disclosures of its personal fields, in the order of
	// schemas.PersonalPaths.
	Items []disclose.Item
	// NativeFormat and NativeHash name and hash the native input of an
	// event that came through a bridge: kept here rather than published,
	// since a hash of a record's native form would commit to its personal
	// fields without a salt.
	NativeFormat, NativeHash string
}

// WithholdPersonal returns what a caller without a grant may see of tx, a
// transaction of a chain of rules version 1 or 2, whose personal fields
// (schemas.PersonalPaths) the ledger holds in plaintext: a copy with each
// of them replaced by a digest under a salt drawn from rand, which opens to
// nothing (nobody keeps the salt), and the places withheld. A transaction
// with no personal field in plaintext (a version 3 record, a status
// change, a company's registration without persons) comes back as it is,
// with no places. The read API and the explorer serve records this way to
// every caller but the city whose record it is (issue 14 §4): on such a
// chain nobody holds a grant of personal fields.
func WithholdPersonal(tx *schemas.Tx, rand io.Reader) (*schemas.Tx, []string, error) {
	if tx.Record.HasDigests() || len(schemas.PersonalPaths(tx.Kind, &tx.Record)) == 0 {
		return tx, nil, nil
	}
	red, items, err := disclose.Redact(tx, disclose.RandomSalter{R: rand})
	if err != nil {
		return nil, nil, fmt.Errorf("gateway: withhold personal fields: %w", err)
	}
	paths := make([]string, len(items))
	for i, it := range items {
		paths[i] = it.Path
	}
	return red, paths, nil
}
