package reconcile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/schemas"
)

// preparer turns raw register rows into regRows. It is what the parallel
// workers run: it reads the ledger index (pebble reads are safe alongside
// the consumer's writes) and nothing else shared.
type preparer struct {
	j      schemas.Jurisdiction
	nk     *nativeKeys
	x      *index
	csv    *csvLayout
	noFast bool // tests: always normalise
}

// rowResult is one row's outcome.
type rowResult struct {
	line    uint64
	offset  int64
	key     string
	row     regRow
	invalid *Difference
	fast    bool // matched by native hash, not normalised
	foreign bool // the row names another jurisdiction's format
}

// placeholderAt stands for a row's missing occurredAt while it is
// normalised; the row's time is then taken from the record's date of issue.
const placeholderAt = "1970-01-01T00:00:00Z"

// prepare reads one row. A row whose canonical native bytes, without the
// registerStatus key, are exactly those of the transaction that put the
// ledger's record in force (or made its last change) is matched by their
// SHA-256 (the transaction's nativeHash) without normalising: the ledger's
// gateway normalised those very bytes. Every other row goes through the
// bridge, which checks it in full.
func (p *preparer) prepare(r rawRow) (res rowResult) {
	res.line, res.offset = r.line, r.offset
	invalid := func(field, rule, msg string) rowResult {
		res.invalid = &Difference{Class: InvalidRow, Key: res.key, Line: r.line, Field: field, Rule: rule, Message: msg}
		return res
	}
	if r.err != nil {
		return invalid(r.err.Field, r.err.Rule, r.err.Msg)
	}
	data, status := r.data, ""
	if p.csv != nil {
		var fe *schemas.FieldError
		if data, status, fe = p.csv.object(r.cells); fe != nil {
			return invalid(fe.Field, fe.Rule, fe.Msg)
		}
	}
	if len(data) > bridge.MaxNativeBytes {
		return invalid("", "max-bytes", fmt.Sprintf("row is %d bytes, limit %d", len(data), bridge.MaxNativeBytes))
	}
	canon, err := schemas.CanonicalizeJSON(data)
	if err != nil || len(canon) == 0 || canon[0] != '{' {
		msg := "a register row must be one JSON object"
		if err != nil {
			msg = err.Error()
		}
		return invalid("", "json", msg)
	}

	// The members the fast path and the envelope need.
	type kv struct{ k, v []byte }
	var mem []kv
	var format, eventID, actionWord, at, reason string
	hasEvent, hasAction, hasAt, hasStatus := false, false, false, false
	err = members(canon, func(k, v []byte) error {
		key := string(k)
		s, isStr := jsonString(v)
		switch key {
		case StatusKey:
			hasStatus = true
			if !isStr {
				s = string(v)
			}
			status = s
			return nil
		case "format":
			format = s
		case p.nk.eventID:
			eventID, hasEvent = s, true
		case p.nk.action:
			actionWord, hasAction = s, true
		case p.nk.occurredAt:
			at, hasAt = s, true
		case p.nk.reason:
			reason = s
		}
		mem = append(mem, kv{k, v})
		return nil
	})
	if err != nil {
		return invalid("", "json", "a register row must be one JSON object")
	}
	if p.csv != nil && status != "" {
		hasStatus = true
	}
	if hasStatus {
		switch st := schemas.Status(status); st {
		case schemas.StatusValid, schemas.StatusSuspended, schemas.StatusRevoked, schemas.StatusExpired:
			res.row.Status = st
		default:
			return invalid(StatusKey, "enum", fmt.Sprintf("%q is not a status (valid, suspended, revoked, expired)", status))
		}
	}

	// Complete a missing envelope: the event id from the row's content,
	// the action issue, the time a placeholder.
	synthAt := false
	if hasStatus || !hasEvent || !hasAction || !hasAt {
		var body bytes.Buffer
		body.WriteByte('{')
		var rec bytes.Buffer // the record's members: what a derived id hashes
		rec.WriteByte('{')
		for i, m := range mem {
			if i > 0 {
				body.WriteByte(',')
			}
			body.WriteByte('"')
			body.Write(m.k)
			body.WriteString(`":`)
			body.Write(m.v)
			if !p.nk.isEnvelope(string(m.k)) {
				if rec.Len() > 1 {
					rec.WriteByte(',')
				}
				rec.WriteByte('"')
				rec.Write(m.k)
				rec.WriteString(`":`)
				rec.Write(m.v)
			}
		}
		rec.WriteByte('}')
		add := func(k, v string) {
			if body.Len() > 1 {
				body.WriteByte(',')
			}
			fmt.Fprintf(&body, "%q:%q", k, v)
		}
		if !hasEvent {
			sum := sha256.Sum256(rec.Bytes())
			eventID = "register-" + hex.EncodeToString(sum[:16])
			add(p.nk.eventID, eventID)
		}
		if !hasAction {
			actionWord = p.nk.actionWord[schemas.ActionIssue]
			add(p.nk.action, actionWord)
		}
		if !hasAt {
			at, synthAt = placeholderAt, true
			add(p.nk.occurredAt, at)
		}
		body.WriteByte('}')
		if canon, err = schemas.CanonicalizeJSON(body.Bytes()); err != nil {
			return invalid("", "json", err.Error())
		}
	}

	// Fast path: the very bytes of a transaction on the ledger.
	var led ledgerEntry
	var ledOK, ledRead bool
	if nf, ok := p.nk.formats[format]; ok {
		for _, m := range mem {
			if string(m.k) == nf.idKey {
				if id, _ := jsonString(m.v); id != "" {
					res.key = schemas.LicenseKey(p.j, id)
				}
			}
		}
		if a, ok := p.nk.words[actionWord]; ok && res.key != "" && !p.noFast {
			if led, ledOK, err = p.x.ledger(res.key); err != nil {
				return invalid("", "index", err.Error())
			}
			ledRead = true
			if sum := sha256.Sum256(canon); ledOK && (sum == led.RecordNative || sum == led.LastNative) {
				// A full record matched either way is the record in force
				// (a last change that carried a record put it there).
				res.fast = true
				res.row.Line, res.row.Action, res.row.Kind = r.line, a, nf.kind
				res.row.EventID, res.row.OccurredAt, res.row.Reason = eventID, at, reason
				res.row.Same = a.FullRecord()
				return res
			}
		}
	}

	// Slow path: the bridge normalises and checks the row.
	ev, _, err := p.nk.bridge.Normalize(canon)
	if err != nil {
		fe, ok := schemas.AsFieldError(err)
		if !ok {
			return invalid("", "bridge", err.Error())
		}
		res.foreign = fe.Rule == "format-jurisdiction"
		return invalid(fe.Field, fe.Rule, fe.Msg)
	}
	key := schemas.LicenseKey(p.j, ev.Record.ID)
	if !ledRead || key != res.key {
		if led, ledOK, err = p.x.ledger(key); err != nil {
			return invalid("", "index", err.Error())
		}
	}
	res.key = key
	if synthAt {
		at = placeholderAt
		if ev.Record.IssuedOn != "" {
			at = ev.Record.IssuedOn + "T00:00:00+08:00"
		}
	}
	res.row.Line, res.row.Action, res.row.Kind = r.line, ev.Action, ev.Kind
	res.row.EventID, res.row.OccurredAt, res.row.Reason = ev.EventID, at, ev.Reason
	if ev.Action.FullRecord() {
		rec, err := schemas.Canonical(&ev.Record)
		if err != nil {
			return invalid("", "json", err.Error())
		}
		sum := sha256.Sum256(rec)
		if ledOK && sum == led.RecordHash {
			res.row.Same = true
		} else {
			res.row.RecordHash, res.row.Record = sum, rec
		}
	}
	return res
}
