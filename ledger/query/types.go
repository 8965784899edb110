package query

import (
	"errors"
	"fmt"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/schemas"
)

// Errors. A node's reply error matches one of the first four with
// errors.Is.
var (
	// ErrNotFound: the node holds no such transaction, license or block.
	ErrNotFound = errors.New("query: not found")
	// ErrBadRequest: the node refused the request as malformed.
	ErrBadRequest = errors.New("query: bad request")
	// ErrUnavailable: the node cannot answer now (stopping, behind, or
	// without the catalogue a license list needs).
	ErrUnavailable = errors.New("query: unavailable")
	// ErrInternal: the node failed while answering.
	ErrInternal = errors.New("query: node failed")
	// ErrUnverified: a reply did not verify against the trust bundle (a
	// header without a quorum, a path that does not lead to the header's
	// root, a proof that fails proof.Verify). The client never relays it.
	ErrUnverified = errors.New("query: reply does not verify")
	// ErrNoOrderer: no orderer answered.
	ErrNoOrderer = errors.New("query: no orderer answered")
)

// ReplyError is an error a node replied with.
type ReplyError struct {
	Node    string // the orderer that replied (set by the client)
	Code    byte
	Message string
}

func (e *ReplyError) Error() string {
	if e.Node != "" {
		return fmt.Sprintf("%v: %s: %s", e.sentinel(), e.Node, e.Message)
	}
	return fmt.Sprintf("%v: %s", e.sentinel(), e.Message)
}

func (e *ReplyError) sentinel() error {
	switch e.Code {
	case codeNotFound:
		return ErrNotFound
	case codeBadRequest:
		return ErrBadRequest
	case codeUnavailable:
		return ErrUnavailable
	}
	return ErrInternal
}

// Is matches the sentinel of the reply's code.
func (e *ReplyError) Is(target error) bool { return target == e.sentinel() }

// Location is where a transaction was sealed: the block where it took
// effect or, if it never did, the last block that refused it.
type Location struct {
	Height    uint64
	Position  int // among all the block's transactions
	Leaf      int // under the header's TxRoot; -1 unless Result is OK
	Result    block.Result
	BlockHash [32]byte
}

// Status is what a node says of itself.
type Status struct {
	Node      string
	Height    uint64
	SealedSeq uint64 // orderer.Node.SealedSeq
	Ready     bool
	// Head is the node's last header, its certificate verified; nil at
	// height 0.
	Head *block.Header
}

// LicenseFilter selects licenses from a node's catalogue. Every set field
// must match; licenses come in key order.
type LicenseFilter struct {
	City         string         // city token of the license's last change
	Holder       string         // the holder's identifier (see LicenseEntry)
	Status       schemas.Status // status now
	Kind         schemas.Kind
	Jurisdiction string // CN, HK or MO
	// Cursor is a previous reply's next cursor: the page after it.
	Cursor string
	// Limit bounds the page: default 100, at most MaxLicenses.
	Limit int
}

// LicenseEntry is a license as the catalogue keeps it.
type LicenseEntry struct {
	Key  string // JUR/ID
	City string // the city of its last change
	Kind schemas.Kind
	// Holder identifies whom the license is about: the holder's identity
	// number for certificates and approvals, else the license's own id
	// (a company is the holder of its business registration).
	Holder string
	// Name is the holder's or company's name as recorded, one language
	// (English, then Traditional, Simplified Chinese, Portuguese).
	Name   string
	Status schemas.Status
	Height uint64       // of the last change
	LastTx schemas.TxID // the last change
}

// LicenseVersion is one version of a license in its history.
type LicenseVersion struct {
	Height     uint64
	Status     schemas.Status
	RecordHash schemas.TxID // the transaction whose record is in force
	TxID       schemas.TxID // the transaction that made this version
}
