package reconcile

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/schemas"
)

// A register row is read twice at most. While the register streams in,
// parse reads what costs little (canonical JSON, the envelope, the license
// id, the SHA-256 of the row's canonical bytes); the row is stored under
// its license with that hash and its place in the file. When both sides
// are merged by license, a row whose hash is the native hash of the
// transaction that put the ledger's record in force (or made its last
// change) is matched without more work: the ledger's gateway normalised
// those very bytes. Any other row is read again from the register and
// normalised through the bridge, which checks it in full. So the bridge's
// cost (tens of µs a row) is paid only for rows that differ from what the
// ledger holds, or that were published in another form.

// preparer reads register rows. It is immutable once the header is known
// and is shared by the workers.
type preparer struct {
	j      schemas.Jurisdiction
	nk     *nativeKeys
	csv    *csvLayout
	src    io.ReaderAt // the register, to read rows again
	noFast bool        // tests: normalise every row
}

// parsedRow is a row after the cheap read.
type parsedRow struct {
	canon   []byte // canonical native JSON, registerStatus removed, envelope completed
	key     string // JUR/ID from the format's id key, "" if it cannot be read
	action  schemas.Action
	kind    schemas.Kind
	status  schemas.Status // explicit registerStatus
	eventID string
	at      string
	reason  string
	synthAt bool // occurredAt was missing
	hash    [32]byte
	invalid *Difference
}

// placeholderAt stands for a row's missing occurredAt while it is
// normalised; the row's time is then taken from the record's date of issue.
const placeholderAt = "1970-01-01T00:00:00Z"

func invalidRow(line uint64, key, field, rule, msg string) *Difference {
	return &Difference{Class: InvalidRow, Key: key, Line: line, Field: field, Rule: rule, Message: msg}
}

// parse is the cheap read of one row.
func (p *preparer) parse(r *rawRow) parsedRow {
	var pr parsedRow
	if r.err != nil {
		pr.invalid = invalidRow(r.line, "", r.err.Field, r.err.Rule, r.err.Msg)
		return pr
	}
	data, status := r.data, ""
	if p.csv != nil {
		var fe *schemas.FieldError
		if data, status, fe = p.csv.object(r.cells); fe != nil {
			pr.invalid = invalidRow(r.line, "", fe.Field, fe.Rule, fe.Msg)
			return pr
		}
	}
	if len(data) > bridge.MaxNativeBytes {
		pr.invalid = invalidRow(r.line, "", "", "max-bytes", fmt.Sprintf("row is %d bytes, limit %d", len(data), bridge.MaxNativeBytes))
		return pr
	}
	canon, err := schemas.CanonicalizeJSON(data)
	if err != nil || len(canon) == 0 || canon[0] != '{' {
		msg := "a register row must be one JSON object"
		if err != nil {
			msg = err.Error()
		}
		pr.invalid = invalidRow(r.line, "", "", "json", msg)
		return pr
	}

	type kv struct{ k, v []byte }
	mem := make([]kv, 0, 32)
	var format, actionWord string
	hasEvent, hasAction, hasAt, hasStatus := false, false, false, p.csv != nil && status != ""
	str := func(v []byte) string { s, _ := jsonString(v); return s }
	err = members(canon, func(k, v []byte) error {
		switch string(k) {
		case StatusKey:
			hasStatus = true
			if s, ok := jsonString(v); ok {
				status = s
			} else {
				status = string(v)
			}
			return nil
		case "format":
			format = str(v)
		case p.nk.eventID:
			pr.eventID, hasEvent = str(v), true
		case p.nk.action:
			actionWord, hasAction = str(v), true
		case p.nk.occurredAt:
			pr.at, hasAt = str(v), true
		case p.nk.reason:
			pr.reason = str(v)
		}
		mem = append(mem, kv{k, v})
		return nil
	})
	if err != nil {
		pr.invalid = invalidRow(r.line, "", "", "json", "a register row must be one JSON object")
		return pr
	}
	nf, known := p.nk.formats[format]
	if known {
		pr.kind = nf.kind
		for _, m := range mem {
			if string(m.k) == nf.idKey {
				if id, _ := jsonString(m.v); id != "" {
					pr.key = schemas.LicenseKey(p.j, id)
				}
			}
		}
	}
	if hasStatus {
		switch st := schemas.Status(status); st {
		case schemas.StatusValid, schemas.StatusSuspended, schemas.StatusRevoked, schemas.StatusExpired:
			pr.status = st
		default:
			pr.invalid = invalidRow(r.line, pr.key, StatusKey, "enum", fmt.Sprintf("%q is not a status (valid, suspended, revoked, expired)", status))
			return pr
		}
	}

	// Complete a missing envelope: the event id derived from the record's
	// members, the action issue, the time a placeholder.
	if hasStatus || !hasEvent || !hasAction || !hasAt {
		var body, rec bytes.Buffer
		body.WriteByte('{')
		rec.WriteByte('{')
		for _, m := range mem {
			for _, b := range []*bytes.Buffer{&body, &rec} {
				if b == &rec && p.nk.isEnvelope(string(m.k)) {
					continue
				}
				if b.Len() > 1 {
					b.WriteByte(',')
				}
				b.WriteByte('"')
				b.Write(m.k)
				b.WriteString(`":`)
				b.Write(m.v)
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
			pr.eventID = "register-" + hex.EncodeToString(sum[:16])
			add(p.nk.eventID, pr.eventID)
		}
		if !hasAction {
			actionWord = p.nk.actionWord[schemas.ActionIssue]
			add(p.nk.action, actionWord)
		}
		if !hasAt {
			pr.at, pr.synthAt = placeholderAt, true
			add(p.nk.occurredAt, pr.at)
		}
		body.WriteByte('}')
		if canon, err = schemas.CanonicalizeJSON(body.Bytes()); err != nil {
			pr.invalid = invalidRow(r.line, pr.key, "", "json", err.Error())
			return pr
		}
	}
	pr.canon = canon
	pr.action = p.nk.words[actionWord]
	if pr.action == "" {
		pr.key = "" // the bridge says what is wrong
	}
	pr.hash = sha256.Sum256(canon)
	return pr
}

// normalize runs the bridge on a parsed row and returns the license key
// and the row as the fold needs it, or the reason it is invalid. led is the
// ledger's entry for the row's license (nil if none or not known yet).
func (p *preparer) normalize(line uint64, pr *parsedRow, led *ledgerEntry) (string, regRow, *Difference) {
	ev, _, err := p.nk.bridge.Normalize(pr.canon)
	if err != nil {
		fe, ok := schemas.AsFieldError(err)
		if !ok {
			return "", regRow{}, invalidRow(line, pr.key, "", "bridge", err.Error())
		}
		return "", regRow{}, invalidRow(line, pr.key, fe.Field, fe.Rule, fe.Msg)
	}
	key := schemas.LicenseKey(p.j, ev.Record.ID)
	if pr.key != "" && key != pr.key {
		return "", regRow{}, invalidRow(line, pr.key, "", "id-form", fmt.Sprintf("the bridge reads the id as %q: write it that way", ev.Record.ID))
	}
	at := pr.at
	if pr.synthAt && ev.Record.IssuedOn != "" {
		at = ev.Record.IssuedOn + "T00:00:00+08:00"
	}
	row := regRow{Line: line, Action: ev.Action, Status: pr.status, Kind: ev.Kind, OccurredAt: at, Reason: ev.Reason}
	if ev.Action.FullRecord() {
		rec, err := schemas.Canonical(&ev.Record)
		if err != nil {
			return "", regRow{}, invalidRow(line, pr.key, "", "json", err.Error())
		}
		row.RecordHash = sha256.Sum256(rec)
		if led != nil && row.RecordHash == led.RecordHash {
			row.Same = true
		} else {
			row.Record = rec
		}
	}
	return key, row, nil
}

// deferred is the row stored while the register streams in: everything but
// the normalised record, and where to read the row again.
func deferred(line uint64, r *rawRow, pr *parsedRow) regRow {
	return regRow{Line: line, Action: pr.action, Status: pr.status, Kind: pr.kind, OccurredAt: pr.at,
		Reason: pr.reason, Deferred: true, SynthAt: pr.synthAt, NativeHash: pr.hash, Offset: r.start, Length: r.end - r.start}
}

// resolve settles a deferred row against the ledger's entry: by its native
// hash, or by reading it again and normalising it. fast reports the first.
func (p *preparer) resolve(key string, row *regRow, led *ledgerEntry) (out regRow, invalid *Difference, fast bool, err error) {
	if !p.noFast && led != nil && (row.NativeHash == led.RecordNative || row.NativeHash == led.LastNative) {
		// A full record matched either way is the record in force (a last
		// change that carried a record put it there).
		out = *row
		out.Deferred, out.Same = false, row.Action.FullRecord()
		return out, nil, true, nil
	}
	raw, err := p.reread(row)
	if err != nil {
		return out, nil, false, err
	}
	pr := p.parse(&raw)
	if pr.invalid != nil {
		return out, pr.invalid, false, nil
	}
	if pr.hash != row.NativeHash {
		return out, nil, false, fmt.Errorf("%w: line %d changed while reconciling", ErrRegister, row.Line)
	}
	if pr.key == "" {
		pr.key = key
	}
	_, out, invalid = p.normalize(row.Line, &pr, led)
	return out, invalid, false, nil
}

// reread reads a row again from the register.
func (p *preparer) reread(row *regRow) (rawRow, error) {
	buf := make([]byte, row.Length)
	if _, err := p.src.ReadAt(buf, row.Offset); err != nil && !(err == io.EOF && len(buf) > 0) {
		return rawRow{}, fmt.Errorf("%w: read line %d again: %w", ErrRegister, row.Line, err)
	}
	r := rawRow{line: row.Line}
	if p.csv == nil {
		r.data = bytes.TrimSpace(buf)
		return r, nil
	}
	cr := csv.NewReader(bytes.NewReader(buf))
	cr.FieldsPerRecord = -1
	cells, err := cr.Read()
	if err != nil {
		return rawRow{}, fmt.Errorf("%w: read line %d again: %w", ErrRegister, row.Line, err)
	}
	if len(cells) != len(p.csv.cols) {
		return rawRow{}, fmt.Errorf("%w: line %d changed while reconciling", ErrRegister, row.Line)
	}
	r.cells = cells
	return r, nil
}
