// Package gen drives the seeded sample generators of the jurisdiction
// bridges: a deterministic random source and the event stream that decides,
// for each event, whether it issues a new license or acts on an earlier one,
// so that every stream is a valid history (no suspension of a license that
// was never issued, nothing after a revocation).
package gen

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"time"

	"github.com/baybus/baybus/schemas"
)

// Rand is a deterministic random source. It uses PCG's output directly
// (whose algorithm is fixed) rather than math/rand's helpers, so a seed gives
// the same samples on every Go release.
type Rand struct{ pcg *rand.PCG }

// NewRand returns the source for a seed and a stream name (e.g. a city token).
func NewRand(seed int64, stream string) *Rand {
	h := fnv.New64a()
	h.Write([]byte(stream))
	return &Rand{rand.NewPCG(uint64(seed), h.Sum64())}
}

// Intn returns a number in [0, n); n must be positive.
func (r *Rand) Intn(n int) int { return int(r.pcg.Uint64() % uint64(n)) }

// Chance returns true with probability pct percent.
func (r *Rand) Chance(pct int) bool { return r.Intn(100) < pct }

// Pick returns one of xs.
func Pick[T any](r *Rand, xs []T) T { return xs[r.Intn(len(xs))] }

// Chars returns n characters drawn from alphabet (ASCII).
func (r *Rand) Chars(alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.Intn(len(alphabet))]
	}
	return string(b)
}

// Digits returns n decimal digits.
func (r *Rand) Digits(n int) string { return r.Chars("0123456789", n) }

// Day returns a day in [from, to], at midnight UTC.
func (r *Rand) Day(from, to time.Time) time.Time {
	days := int(to.Sub(from).Hours() / 24)
	if days <= 0 {
		return from
	}
	return from.AddDate(0, 0, r.Intn(days+1))
}

// ISO writes a day as YYYY-MM-DD.
func ISO(t time.Time) string { return t.Format("2006-01-02") }

// Maker makes one jurisdiction's records.
type Maker interface {
	// Record makes a new record of kind, decided at the given time. The
	// record's id must be new within the stream; seen reports ids in use.
	Record(r *Rand, city schemas.City, kind schemas.Kind, at time.Time, seen func(id string) bool) schemas.Record
	// Amend returns a changed copy of rec, decided at the given time.
	Amend(r *Rand, city schemas.City, kind schemas.Kind, rec schemas.Record, at time.Time) schemas.Record
	// Reason gives a reason, in the jurisdiction's language, for an action.
	Reason(r *Rand, a schemas.Action) string
}

// Base is when every sample stream starts: 2 January 2024, 09:00 in the
// Greater Bay Area (+08:00).
func Base() time.Time { return time.Date(2024, 1, 2, 9, 0, 0, 0, time.FixedZone("+08:00", 8*3600)) }

type license struct {
	kind   schemas.Kind
	rec    schemas.Record
	status schemas.Status
}

// Events makes n events for a city: kind "" mixes the kinds. Event ids are
// <city>-<seed>-<index>, or <city>-<kind>-<seed>-<index> for one kind
// (business, certificate, approval), so they are unique per (city, seed,
// index) and a one-kind sample never reuses a mixed sample's ids.
func Events(city schemas.City, kind schemas.Kind, n int, seed int64, m Maker) ([]schemas.Event, error) {
	if n < 0 {
		return nil, fmt.Errorf("gen: negative count %d", n)
	}
	kinds := schemas.Kinds
	if kind != "" {
		if _, err := schemas.ParseKind(string(kind)); err != nil {
			return nil, err
		}
		kinds = []schemas.Kind{kind}
	}
	r := NewRand(seed, city.Token)
	idPrefix := city.Token
	if kind != "" {
		idPrefix += "-" + kind.Short()
	}
	ids := map[string]bool{}
	var lics []*license
	at := Base()
	out := make([]schemas.Event, 0, n)
	for i := range n {
		at = at.Add(time.Duration(1+r.Intn(900)) * time.Second)
		ev := schemas.Event{
			EventID:    fmt.Sprintf("%s-%d-%06d", idPrefix, seed, i),
			OccurredAt: at.Format(time.RFC3339),
		}
		var l *license
		var a schemas.Action
		if len(lics) > 0 && !r.Chance(60) {
			l = Pick(r, lics)
			a = nextAction(r, l.status)
		}
		if a == "" {
			k := Pick(r, kinds)
			rec := m.Record(r, city, k, at, func(id string) bool { return ids[id] })
			ids[rec.ID] = true
			l = &license{kind: k, rec: rec}
			lics = append(lics, l)
			a = schemas.ActionIssue
		}
		ev.Kind, ev.Action = l.kind, a
		switch a {
		case schemas.ActionIssue:
			ev.Record = l.rec
		case schemas.ActionAmend:
			l.rec = m.Amend(r, city, l.kind, l.rec, at)
			ev.Record = l.rec
		default:
			ev.Record = schemas.Record{ID: l.rec.ID}
			if a == schemas.ActionSuspend || a == schemas.ActionRevoke || r.Chance(50) {
				ev.Reason = m.Reason(r, a)
			}
		}
		l.status, _ = schemas.StatusAfter(l.status, a)
		out = append(out, ev)
	}
	return out, nil
}

// nextAction picks an action that applies to a license with the given
// status, or "" if none does.
func nextAction(r *Rand, st schemas.Status) schemas.Action {
	weighted := []struct {
		a schemas.Action
		w int
	}{{schemas.ActionAmend, 5}, {schemas.ActionSuspend, 2}, {schemas.ActionReinstate, 3}, {schemas.ActionRevoke, 1}, {schemas.ActionExpire, 1}}
	var pool []schemas.Action
	for _, x := range weighted {
		if x.a == schemas.ActionReinstate && st == schemas.StatusValid {
			continue // a no-op: reinstating a valid license
		}
		if x.a == schemas.ActionExpire && st == schemas.StatusExpired {
			continue
		}
		if _, ok := schemas.StatusAfter(st, x.a); ok {
			for range x.w {
				pool = append(pool, x.a)
			}
		}
	}
	if len(pool) == 0 {
		return ""
	}
	return Pick(r, pool)
}
