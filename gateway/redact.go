package gateway

import (
	"context"

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
