package reconcile

import (
	"encoding/json"

	"github.com/baybus/baybus/schemas"
)

// Class is a kind of difference between the register and the ledger.
type Class string

// The classes. A license may have a fields and a status difference at once;
// every other class excludes the others for the same license.
const (
	// LedgerOnly: the ledger holds the license for the city, the register
	// does not.
	LedgerOnly Class = "ledger_only"
	// RegisterOnly: the register holds the license, the ledger does not
	// hold it for the city (perhaps not at all, perhaps under another
	// city of the jurisdiction: Ledger then says which).
	RegisterOnly Class = "register_only"
	// FieldsDiffer: both hold it, with different records (or kinds).
	FieldsDiffer Class = "fields"
	// StatusDiffers: both hold it, with different statuses.
	StatusDiffers Class = "status"
	// InvalidRow: a register row that cannot be read or normalised, or
	// that its own register's history refuses.
	InvalidRow Class = "invalid"
)

// Classes lists the classes in report order within a license.
var Classes = []Class{LedgerOnly, RegisterOnly, FieldsDiffer, StatusDiffers, InvalidRow}

func (c Class) order() byte {
	for i, x := range Classes {
		if x == c {
			return byte(i + 1)
		}
	}
	return 0
}

// Difference is one line of the report's differences (JSONL).
type Difference struct {
	Class Class `json:"class"`
	// Key is the license key, JUR/ID (empty for a row whose id could not
	// be read).
	Key string `json:"key,omitempty"`
	// Line is the register line the difference is about: the invalid row,
	// or the row that set the register's compared value.
	Line uint64 `json:"line,omitempty"`
	// Field, Rule and Message say what is wrong with an invalid row: the
	// native key path, the rule broken (e.g. "uscc-check", "json",
	// "register-history") and a sentence for people.
	Field   string `json:"field,omitempty"`
	Rule    string `json:"rule,omitempty"`
	Message string `json:"message,omitempty"`
	// Fields lists the canonical fields that differ, with both values.
	Fields   []FieldDiff   `json:"fields,omitempty"`
	Register *RegisterSide `json:"register,omitempty"`
	Ledger   *LedgerSide   `json:"ledger,omitempty"`
	// Repair lists the actions --repair publishes for this difference, in
	// order; Unrepairable says why there are none.
	Repair       []schemas.Action `json:"repair,omitempty"`
	Unrepairable string           `json:"unrepairable,omitempty"`
}

// FieldDiff is one canonical field (a JSON path into the canonical event,
// "record.name.zh-Hans", "record.people.0.name.en", "kind") whose values
// differ. A side without the field has no value (the key is omitted).
type FieldDiff struct {
	Field    string          `json:"field"`
	Register json.RawMessage `json:"register,omitempty"`
	Ledger   json.RawMessage `json:"ledger,omitempty"`
}

// RegisterSide is the register's view of a license.
type RegisterSide struct {
	Status schemas.Status `json:"status"`
	Kind   schemas.Kind   `json:"kind,omitempty"`
	Line   uint64         `json:"line"` // the row that set the value compared
	Rows   int            `json:"rows"` // rows of the register for the license
}

// LedgerSide is the ledger's view of a license as of the height reconciled.
type LedgerSide struct {
	Status     schemas.Status `json:"status"`
	City       string         `json:"city"` // of the last change
	Kind       schemas.Kind   `json:"kind,omitempty"`
	Height     uint64         `json:"height"` // of the last change
	TxID       string         `json:"txId"`   // the last change
	RecordTxID string         `json:"recordTxId,omitempty"`
}

// Counts counts differences by class.
type Counts struct {
	LedgerOnly   uint64 `json:"ledger_only"`
	RegisterOnly uint64 `json:"register_only"`
	Fields       uint64 `json:"fields"`
	Status       uint64 `json:"status"`
	Invalid      uint64 `json:"invalid"`
	Total        uint64 `json:"total"`
}

func (c *Counts) add(class Class) {
	switch class {
	case LedgerOnly:
		c.LedgerOnly++
	case RegisterOnly:
		c.RegisterOnly++
	case FieldsDiffer:
		c.Fields++
	case StatusDiffers:
		c.Status++
	case InvalidRow:
		c.Invalid++
	}
	c.Total++
}

// Of returns the count of one class.
func (c Counts) Of(class Class) uint64 {
	switch class {
	case LedgerOnly:
		return c.LedgerOnly
	case RegisterOnly:
		return c.RegisterOnly
	case FieldsDiffer:
		return c.Fields
	case StatusDiffers:
		return c.Status
	case InvalidRow:
		return c.Invalid
	}
	return 0
}

// Summary is the report's first line (with "type": "summary") and what Run
// returns.
type Summary struct {
	City         string `json:"city"`
	Jurisdiction string `json:"jurisdiction"`
	Source       string `json:"source"`
	// Height is the height reconciled; Head the hash of its header.
	Height uint64 `json:"height"`
	Head   string `json:"head,omitempty"`
	// Blocks and LedgerTxs count what was read: blocks, and OK
	// transactions of the city's jurisdiction.
	Blocks    uint64 `json:"blocks"`
	LedgerTxs uint64 `json:"ledgerTxs"`

	Register string `json:"register"`
	Format   Format `json:"format"`
	// Rows counts the register's data rows (blank lines are not rows);
	// FastRows those matched to a ledger transaction by their native hash,
	// without normalising them.
	Rows     uint64 `json:"rows"`
	FastRows uint64 `json:"fastRows"`

	// RegisterLicenses and LedgerLicenses count licenses on each side
	// (the ledger's: those whose last change came from the city);
	// Matched those on both with no difference.
	RegisterLicenses uint64 `json:"registerLicenses"`
	LedgerLicenses   uint64 `json:"ledgerLicenses"`
	Matched          uint64 `json:"matched"`

	Differences Counts         `json:"differences"`
	Repair      *RepairSummary `json:"repair,omitempty"`
	Warnings    []string       `json:"warnings,omitempty"`

	Seconds Timing `json:"seconds"`
	// CPUSeconds is the process's CPU time (user and system) in each
	// phase: on a shared machine it says more than wall time.
	CPUSeconds    Timing  `json:"cpuSeconds"`
	RowsPerSecond float64 `json:"rowsPerSecond"` // Rows / Seconds.Total
}

// Timing is the time each phase took, in seconds.
type Timing struct {
	Ledger   float64 `json:"ledger"`   // reading blocks into the index
	Register float64 `json:"register"` // reading and normalising the register
	Compare  float64 `json:"compare"`  // merging both sides, fetching records that differ
	Repair   float64 `json:"repair,omitempty"`
	Total    float64 `json:"total"`
}

// RepairSummary says what --repair planned and what became of it.
type RepairSummary struct {
	// Planned counts the events the differences call for (also without
	// --repair: see each difference's Repair).
	Planned uint64 `json:"planned"`
	// Ran is true when the events were published.
	Ran        bool     `json:"ran"`
	Committed  uint64   `json:"committed"`  // sealed in a block
	Accepted   uint64   `json:"accepted"`   // stored by the bus, not yet sealed
	Duplicates uint64   `json:"duplicates"` // already published (a retried repair)
	Refused    uint64   `json:"refused"`
	Errors     []string `json:"errors,omitempty"` // the first refusals
}
