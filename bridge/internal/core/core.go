// Package core is the one implementation of a jurisdiction bridge: a native
// codec, a view and a sample maker put together. The packages bridge/cn,
// bridge/hk and bridge/mo supply those three parts.
package core

import (
	"fmt"

	"github.com/baybus/baybus/bridge/ids"
	"github.com/baybus/baybus/bridge/internal/gen"
	"github.com/baybus/baybus/bridge/internal/native"
	"github.com/baybus/baybus/bridge/internal/view"
	"github.com/baybus/baybus/schemas"
)

// Bridge translates one jurisdiction's native formats. It is immutable and
// safe for concurrent use.
type Bridge struct {
	codec *native.Codec
	view  view.View
	maker gen.Maker
}

// New puts a bridge together.
func New(codec *native.Codec, maker gen.Maker) *Bridge {
	v, ok := view.Of(codec.Style.Jurisdiction)
	if !ok {
		panic(fmt.Sprintf("core: no view for jurisdiction %q", codec.Style.Jurisdiction)) // wiring bug
	}
	return &Bridge{codec: codec, view: v, maker: maker}
}

// Jurisdiction returns the jurisdiction whose formats the bridge reads.
func (b *Bridge) Jurisdiction() schemas.Jurisdiction { return b.codec.Style.Jurisdiction }

// Normalize parses one native event into a canonical event and returns the
// name of its native format.
func (b *Bridge) Normalize(raw []byte) (*schemas.Event, string, error) {
	d, err := b.codec.Decode(raw)
	if err != nil {
		return nil, "", err
	}
	return d.Event, d.Format, nil
}

// Decode is Normalize that also returns the native input's canonical JSON,
// which is what the transaction's native hash covers.
func (b *Bridge) Decode(raw []byte) (*native.Decoded, error) { return b.codec.Decode(raw) }

// Native writes a canonical event as this jurisdiction's native event JSON.
func (b *Bridge) Native(ev *schemas.Event) ([]byte, error) { return b.codec.Encode(ev) }

// ValidateRecordIDs checks the identifiers inside a canonical record of this
// jurisdiction (see ids.CheckRecord). With Normalize it makes the bridge a
// gateway.Bridge.
func (b *Bridge) ValidateRecordIDs(kind schemas.Kind, r *schemas.Record) error {
	return ids.CheckRecord(b.Jurisdiction(), kind, r)
}

// Render returns this jurisdiction's view of a canonical transaction.
func (b *Bridge) Render(tx *schemas.Tx) (view.Rendering, error) { return b.view.Render(tx) }

// RenderVersion names the rendering rules, e.g. "hk-render@1".
func (b *Bridge) RenderVersion() string { return b.view.Version }

// Formats lists the names of the bridge's native formats.
func (b *Bridge) Formats() []string {
	var out []string
	for _, f := range b.codec.Formats {
		out = append(out, f.Name)
	}
	return out
}

// Sample makes n native events for a city of this jurisdiction, the same for
// the same seed.
func (b *Bridge) Sample(city schemas.City, kind schemas.Kind, n int, seed int64) ([][]byte, error) {
	if city.Jurisdiction != b.Jurisdiction() {
		return nil, fmt.Errorf("bridge: city %s is in %s, not %s", city.Token, city.Jurisdiction, b.Jurisdiction())
	}
	evs, err := gen.Events(city, kind, n, seed, b.maker)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(evs))
	for i := range evs {
		if out[i], err = b.codec.Encode(&evs[i]); err != nil {
			return nil, fmt.Errorf("bridge: sample %d: %w", i, err)
		}
	}
	return out, nil
}
