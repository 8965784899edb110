package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
)

// Publisher publishes a city's native events as ordinary transactions and
// waits until they are sealed: the city's gateway. It is injected (baybus
// reconcile adapts the gateway's HTTP client, gateway/client), so that
// reconcile links no gateway code.
type Publisher interface {
	Publish(ctx context.Context, city string, native []json.RawMessage) ([]Published, error)
}

// Published is the outcome of one event.
type Published struct {
	TxID      string
	Status    string // "committed" or "accepted"
	Duplicate bool
	Err       string // the gateway's refusal, if any
}

// maxRepairErrors bounds the refusals the summary lists.
const maxRepairErrors = 20

// repair publishes the "Q" events in key order, RepairChunk at a time (the
// events of one license are consecutive, and the gateway keeps a city's
// order).
func (r *run) repair(ctx context.Context) error {
	rs := r.sum.Repair
	rs.Ran = true
	r.meter.phase("repair", "events", int64(rs.Planned), 0)
	chunk := r.cfg.RepairChunk
	if chunk <= 0 {
		chunk = 200
	}
	it, err := r.x.db.NewIter(prefixBounds(prefixRepair))
	if err != nil {
		return fmt.Errorf("reconcile: index: %w", err)
	}
	defer it.Close()
	var evs []json.RawMessage
	var keys []string
	flush := func() error {
		if len(evs) == 0 {
			return nil
		}
		res, err := r.cfg.Repair.Publish(ctx, r.city.Token, evs)
		if err != nil {
			return fmt.Errorf("reconcile: repair: %w", err)
		}
		for i, p := range res {
			switch {
			case p.Err != "":
				rs.Refused++
				if len(rs.Errors) < maxRepairErrors {
					rs.Errors = append(rs.Errors, keys[i]+": "+p.Err)
				}
			case p.Duplicate:
				rs.Duplicates++
			case p.Status == "committed":
				rs.Committed++
			default:
				rs.Accepted++
			}
		}
		r.meter.add(int64(len(evs)), 0)
		evs, keys = evs[:0], keys[:0]
		return nil
	}
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		evs = append(evs, json.RawMessage(append([]byte(nil), it.Value()...)))
		keys = append(keys, string(k[1:len(k)-2]))
		if len(evs) >= chunk {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("reconcile: index: %w", err)
	}
	return flush()
}
