package reconcile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/baybus/baybus/schemas"
)

// This file holds the pure part of reconciliation: what a license's
// register rows say (fold), how that compares with the ledger (judge), which
// fields differ (diffRecords) and which events repair it (repairEvents).

// regLicense is what the register says of one license, its rows folded in
// register order.
type regLicense struct {
	Rows       int
	FirstLine  uint64
	Status     schemas.Status
	StatusLine uint64
	StatusAt   string         // occurredAt of the row that set the status
	Reason     string         // its reason
	Kind       schemas.Kind   // of the record (or of the first row)
	HasRecord  bool           // some row carried a full record
	RecordLine uint64         // the row of the record in force
	RecordAt   string         // its occurredAt
	Same       bool           // the record equals the ledger's record in force
	RecordHash [32]byte       // when not Same
	Record     []byte         // canonical, when not Same
	StatusAct  schemas.Action // the action of the row that set the status
}

// folder folds a license's register rows, in register order. A register
// row is the license's state as the register sees it: a full record (issue
// or amend) makes it valid on its first row and keeps its status after;
// a status action (suspend, reinstate, revoke, expire) sets the status, on
// the first row without a record. Later rows must follow the ledger's own
// transition rule (schemas.StatusAfter); a row that does not is an invalid
// row (rule "register-history") and is left out. An explicit
// registerStatus overrides the status after its row.
type folder struct {
	lic     regLicense
	invalid []Difference
}

// statusOf is the status a status action leads to from any status.
func statusOf(a schemas.Action) schemas.Status {
	switch a {
	case schemas.ActionSuspend:
		return schemas.StatusSuspended
	case schemas.ActionRevoke:
		return schemas.StatusRevoked
	case schemas.ActionExpire:
		return schemas.StatusExpired
	}
	return schemas.StatusValid
}

// statusAction is the action that leads to status s.
func statusAction(s schemas.Status) schemas.Action {
	switch s {
	case schemas.StatusSuspended:
		return schemas.ActionSuspend
	case schemas.StatusRevoked:
		return schemas.ActionRevoke
	case schemas.StatusExpired:
		return schemas.ActionExpire
	}
	return schemas.ActionReinstate
}

func (f *folder) add(key string, r *regRow, actionKey string) {
	l := &f.lic
	first := l.Rows == 0
	next := statusOf(r.Action) // issue and amend: valid
	if !first {
		var ok bool
		if next, ok = schemas.StatusAfter(l.Status, r.Action); !ok {
			f.invalid = append(f.invalid, Difference{Class: InvalidRow, Key: key, Line: r.Line, Field: actionKey, Rule: "register-history",
				Message: fmt.Sprintf("%s does not apply to a license the register's earlier rows leave %s (line %d)", r.Action, l.Status, l.StatusLine)})
			return
		}
	}
	if first {
		l.FirstLine = r.Line
		l.Kind = r.Kind
	}
	l.Rows++
	if r.Action.FullRecord() {
		l.HasRecord, l.RecordLine, l.RecordAt, l.Kind = true, r.Line, r.OccurredAt, r.Kind
		l.Same, l.RecordHash, l.Record = r.Same, r.RecordHash, r.Record
	}
	if first || next != l.Status || !r.Action.FullRecord() {
		l.StatusLine, l.StatusAt, l.Reason, l.StatusAct = r.Line, r.OccurredAt, r.Reason, r.Action
	}
	l.Status = next
	if r.Status != "" {
		l.Status, l.StatusLine, l.StatusAt, l.Reason, l.StatusAct = r.Status, r.Line, r.OccurredAt, r.Reason, r.Action
	}
}

// verdict is what judge makes of one license.
type verdict struct {
	diffs []Difference
	// fields, when not nil, is the fields difference; its Fields still
	// lacks the record's fields (they need the ledger's record).
	fields *Difference
	// repair lists the actions that repair the license, in order.
	repair []schemas.Action
	// matched: both sides hold it, with no difference.
	matched bool
}

func ledgerSide(e *ledgerEntry) *LedgerSide {
	return &LedgerSide{Status: e.Status, City: e.City, Kind: e.Kind, Height: e.Height,
		TxID: schemas.FormatID(e.LastTx), RecordTxID: schemas.FormatID(e.RecordTx)}
}

func registerSide(l *regLicense, line uint64) *RegisterSide {
	return &RegisterSide{Status: l.Status, Kind: l.Kind, Line: line, Rows: l.Rows}
}

// Why a difference is not repaired.
const (
	whyRevoked    = "the ledger's license is revoked: no action applies after revocation"
	whyNoRecord   = "the register holds only status rows for it, no record to issue"
	whyLedgerOnly = "absence from the register is not evidence of revocation: left to the city"
)

// judge compares one license's two sides. reg is nil if the register does
// not hold it; led is nil if the ledger does not hold it in the city's
// jurisdiction. A ledger license whose last change came from another city
// is not the city's: it only annotates a register-only difference.
func judge(city, key string, reg *regLicense, led *ledgerEntry) verdict {
	var v verdict
	var other *ledgerEntry
	if led != nil && led.City != city {
		other, led = led, nil
	}
	switch {
	case reg == nil && led == nil:
	case reg == nil:
		v.diffs = append(v.diffs, Difference{Class: LedgerOnly, Key: key, Ledger: ledgerSide(led), Unrepairable: whyLedgerOnly})
	case led == nil:
		d := Difference{Class: RegisterOnly, Key: key, Line: reg.FirstLine, Register: registerSide(reg, reg.RecordLine)}
		switch {
		case other != nil:
			d.Ledger = ledgerSide(other)
			d.Unrepairable = fmt.Sprintf("the ledger holds it for city %s (its last change came from there)", other.City)
		case !reg.HasRecord:
			d.Register.Line = reg.StatusLine
			d.Unrepairable = whyNoRecord
		default:
			v.repair = append(v.repair, schemas.ActionIssue)
			if reg.Status != schemas.StatusValid {
				v.repair = append(v.repair, statusAction(reg.Status))
			}
			d.Repair = v.repair
		}
		v.diffs = append(v.diffs, d)
	default:
		revoked := led.Status == schemas.StatusRevoked
		if reg.HasRecord && (!reg.Same || reg.Kind != led.Kind) {
			d := Difference{Class: FieldsDiffer, Key: key, Line: reg.RecordLine, Register: registerSide(reg, reg.RecordLine), Ledger: ledgerSide(led)}
			if revoked {
				d.Unrepairable = whyRevoked
			} else {
				d.Repair = []schemas.Action{schemas.ActionAmend}
				v.repair = append(v.repair, schemas.ActionAmend)
			}
			v.fields = &d
		}
		if reg.Status != led.Status {
			d := Difference{Class: StatusDiffers, Key: key, Line: reg.StatusLine, Register: registerSide(reg, reg.StatusLine), Ledger: ledgerSide(led)}
			a := statusAction(reg.Status)
			switch _, ok := schemas.StatusAfter(led.Status, a); {
			case revoked:
				d.Unrepairable = whyRevoked
			case !ok:
				d.Unrepairable = fmt.Sprintf("no action takes a %s license to %s", led.Status, reg.Status)
			default:
				d.Repair = []schemas.Action{a}
				v.repair = append(v.repair, a)
			}
			v.diffs = append(v.diffs, d)
		}
		v.matched = v.fields == nil && len(v.diffs) == 0
	}
	return v
}

// diffRecords lists the canonical fields that differ between two canonical
// records, by path under "record.", in path order.
func diffRecords(reg, led []byte) ([]FieldDiff, error) {
	a, err := flatten(reg)
	if err != nil {
		return nil, fmt.Errorf("reconcile: register record: %w", err)
	}
	b, err := flatten(led)
	if err != nil {
		return nil, fmt.Errorf("reconcile: ledger record: %w", err)
	}
	paths := make([]string, 0, len(a)+len(b))
	for p := range a {
		paths = append(paths, p)
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	var out []FieldDiff
	for _, p := range paths {
		x, y := a[p], b[p]
		if !bytes.Equal(x, y) {
			out = append(out, FieldDiff{Field: "record." + p, Register: x, Ledger: y})
		}
	}
	return out, nil
}

// flatten maps every leaf of a JSON value to its path (object keys and
// array indexes joined by dots) and its canonical JSON.
func flatten(raw []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	out := map[string]json.RawMessage{}
	var walk func(prefix string, v any) error
	walk = func(prefix string, v any) error {
		join := func(k string) string {
			if prefix == "" {
				return k
			}
			return prefix + "." + k
		}
		switch x := v.(type) {
		case map[string]any:
			if len(x) == 0 {
				out[prefix] = json.RawMessage("{}")
			}
			for k, e := range x {
				if err := walk(join(k), e); err != nil {
					return err
				}
			}
		case []any:
			if len(x) == 0 {
				out[prefix] = json.RawMessage("[]")
			}
			for i, e := range x {
				if err := walk(join(strconv.Itoa(i)), e); err != nil {
					return err
				}
			}
		default:
			b, err := schemas.Canonical(x)
			if err != nil {
				return err
			}
			out[prefix] = b
		}
		return nil
	}
	return out, walk("", v)
}

// defaultReason is the reason a repair gives a suspension or revocation
// when the register's row gave none, in the jurisdiction's language.
func defaultReason(j schemas.Jurisdiction) string {
	switch j {
	case schemas.CN:
		return "与城市登记簿核对后更正"
	case schemas.MO:
		return "Rectificação após conciliação com o registo da cidade"
	}
	return "Corrected after reconciliation with the city register"
}

// repairEvents returns the events that carry out a verdict's repair, in
// canonical form. Their ids are derived from what they carry (city,
// license, action, record, status, time, reason), so a repair retried
// publishes the same transactions, which the ledger records once.
func repairEvents(city schemas.City, key string, reg *regLicense, ledKind schemas.Kind, actions []schemas.Action) ([]schemas.Event, error) {
	_, id, err := schemas.SplitLicenseKey(key)
	if err != nil {
		return nil, err
	}
	kind := reg.Kind
	if kind == "" {
		kind = ledKind
	}
	out := make([]schemas.Event, 0, len(actions))
	for _, a := range actions {
		ev := schemas.Event{Kind: kind, Action: a}
		if a.FullRecord() {
			if err := json.Unmarshal(reg.Record, &ev.Record); err != nil {
				return nil, fmt.Errorf("reconcile: register record of %s: %w", key, err)
			}
			ev.OccurredAt = reg.RecordAt
		} else {
			ev.Record = schemas.Record{ID: id}
			ev.OccurredAt = reg.StatusAt
			if reg.StatusAct == a {
				ev.Reason = reg.Reason
			}
			if ev.Reason == "" && (a == schemas.ActionSuspend || a == schemas.ActionRevoke) {
				ev.Reason = defaultReason(city.Jurisdiction)
			}
		}
		h := sha256.New()
		for _, s := range []string{city.Token, key, string(a), hex.EncodeToString(reg.RecordHash[:]), string(reg.Status), ev.OccurredAt, ev.Reason} {
			h.Write([]byte(s))
			h.Write([]byte{0})
		}
		ev.EventID = "reconcile-" + hex.EncodeToString(h.Sum(nil))[:40]
		out = append(out, ev)
	}
	return out, nil
}
