// Package bridge lets each jurisdiction of the Greater Bay Area keep its own
// formats, scripts, dates and currencies. A city system publishes an event in
// its jurisdiction's native format; the city's gateway normalizes it through
// the jurisdiction's Bridge into a canonical event before signing, and the
// transaction carries the hash of the native input. A service in another
// jurisdiction reads any canonical record through its own Bridge's Render.
//
// The three bridges (bridge/cn, bridge/hk, bridge/mo) are immutable and safe
// for concurrent use. Identifier rules live in bridge/ids, script conversion
// in bridge/script. README.md in this folder documents the native formats.
package bridge

import (
	"fmt"
	"sync"

	"github.com/baybus/baybus/bridge/cn"
	"github.com/baybus/baybus/bridge/hk"
	"github.com/baybus/baybus/bridge/ids"
	"github.com/baybus/baybus/bridge/internal/native"
	"github.com/baybus/baybus/bridge/internal/view"
	"github.com/baybus/baybus/bridge/mo"
	"github.com/baybus/baybus/schemas"
)

// Bridge translates one jurisdiction's native formats.
type Bridge interface {
	Jurisdiction() schemas.Jurisdiction
	// Normalize parses one native event (JSON object, the jurisdiction's own
	// field names, dates and script) into a canonical event. nativeFormat is
	// e.g. "cn/business_registration@1" (it matches
	// ^(cn|hk|mo)/[a-z_]+@[0-9]+$). Errors are *schemas.FieldError naming the
	// native field and rule.
	Normalize(native []byte) (ev *schemas.Event, nativeFormat string, err error)
	// Native renders a canonical event back into this jurisdiction's native
	// event JSON (inverse of Normalize for events of this jurisdiction; for
	// events from elsewhere a native-shaped view).
	Native(ev *schemas.Event) ([]byte, error)
	// Render returns this jurisdiction's human/native view of a canonical
	// record from any jurisdiction, pure and deterministic; its Version
	// identifies the rendering rules (e.g. "hk-render@1").
	Render(tx *schemas.Tx) (Rendering, error)
	// ValidateRecordIDs checks the identifiers inside a canonical record
	// (USCC, BR number, holder ids, e-license id) by this jurisdiction's
	// rules; the gateways call it on canonical-form events too.
	ValidateRecordIDs(kind schemas.Kind, r *schemas.Record) error
}

// Rendering is one jurisdiction's view of a canonical record: ordered
// label/value pairs, JSON-serialisable. Version names the rendering rules
// ("cn-render@1", "hk-render@1", "mo-render@1"); the same transaction and
// version always give the same rendering.
type Rendering = view.Rendering

// Field is one line of a Rendering: Key is the canonical field shown
// ("record.capital"), Label and Value are in the viewing jurisdiction's
// languages.
type Field = view.Field

// MaxNativeBytes bounds one native event.
const MaxNativeBytes = native.MaxBytes

var (
	_ Bridge = (*cn.Bridge)(nil)
	_ Bridge = (*hk.Bridge)(nil)
	_ Bridge = (*mo.Bridge)(nil)
)

// impl is what every bridge of this module offers beyond Bridge.
type impl interface {
	Bridge
	Decode(raw []byte) (*native.Decoded, error)
	Sample(city schemas.City, kind schemas.Kind, n int, seed int64) ([][]byte, error)
	RenderVersion() string
	Formats() []string
}

// bridges are built once; they are immutable.
var bridges = sync.OnceValue(func() map[schemas.Jurisdiction]impl {
	return map[schemas.Jurisdiction]impl{schemas.CN: cn.New(), schemas.HK: hk.New(), schemas.MO: mo.New()}
})

// For returns the bridge of jurisdiction j (CN, HK or MO), or nil for any
// other value.
func For(j schemas.Jurisdiction) Bridge {
	if b, ok := bridges()[j]; ok {
		return b
	}
	return nil
}

func forImpl(j schemas.Jurisdiction) (impl, error) {
	if b, ok := bridges()[j]; ok {
		return b, nil
	}
	_, err := schemas.ParseJurisdiction(string(j))
	if err == nil {
		err = fmt.Errorf("bridge: no bridge for %q", j)
	}
	return nil, err
}

// RenderVersion returns the version of jurisdiction j's rendering rules.
func RenderVersion(j schemas.Jurisdiction) (string, error) {
	b, err := forImpl(j)
	if err != nil {
		return "", err
	}
	return b.RenderVersion(), nil
}

// Formats returns the names of jurisdiction j's native formats.
func Formats(j schemas.Jurisdiction) ([]string, error) {
	b, err := forImpl(j)
	if err != nil {
		return nil, err
	}
	return b.Formats(), nil
}

// ValidateRecordIDs checks the identifiers inside a canonical record of
// jurisdiction j: the business id (USCC in CN, BR number in HK, registration
// number in MO), the HK certificate number, the MO taxpayer number, every
// party's id by its IDKind and the e-license identifier. Errors are
// *schemas.FieldError naming the record field ("record.id") and the rule
// ("uscc-check"). Normalize applies it to every native event; the gateway
// calls it on canonical-form events.
func ValidateRecordIDs(j schemas.Jurisdiction, kind schemas.Kind, r *schemas.Record) error {
	return ids.CheckRecord(j, kind, r)
}

// Sample generates n native events for a city (kind "" = mixed kinds),
// deterministic for a seed; each is a JSON object that
// For(city.Jurisdiction).Normalize accepts. Event ids are
// <city>-<seed>-<index> (<city>-<kind>-<seed>-<index> for one kind), unique
// per (city, seed, index). The events form a
// valid history: every action but issue acts on a license issued earlier in
// the same sample.
func Sample(city schemas.City, kind schemas.Kind, n int, seed int64) ([][]byte, error) {
	b, err := forImpl(city.Jurisdiction)
	if err != nil {
		return nil, err
	}
	return b.Sample(city, kind, n, seed)
}

// ToTx normalizes one native event posted to a city's gateway and binds it
// to the chain and city: the transaction carries the native format's name
// and the hash of the native input (schemas.NativeHash), and is checked with
// schemas.ValidateTx. The city's jurisdiction picks the bridge.
func ToTx(chain string, city schemas.City, native []byte) (*schemas.Tx, error) {
	b, err := forImpl(city.Jurisdiction)
	if err != nil {
		return nil, err
	}
	d, err := b.Decode(native)
	if err != nil {
		return nil, err
	}
	tx := schemas.NewTx(chain, city, d.Event)
	tx.NativeFormat = d.Format
	// d.Canonical is the input's canonical form: its NativeHash is the
	// input's.
	tx.NativeHash, err = schemas.NativeHash(d.Canonical)
	if err != nil {
		return nil, err
	}
	if err := schemas.ValidateTx(tx); err != nil {
		return nil, err
	}
	return tx, nil
}
