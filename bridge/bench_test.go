package bridge_test

import (
	"testing"

	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/schemas"
)

// BenchmarkNormalize measures the gateway's per-event cost for each
// jurisdiction's native input (business registrations, the largest kind).
func BenchmarkNormalize(b *testing.B) {
	for _, token := range []string{"shenzhen", "hongkong", "macao"} {
		c, _ := schemas.LookupCity(token)
		evs, err := bridge.Sample(c, schemas.KindBusiness, 50, 1)
		if err != nil {
			b.Fatal(err)
		}
		br := bridge.For(c.Jurisdiction)
		b.Run(token, func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, _, err := br.Normalize(evs[i%len(evs)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkRender measures one rendering of a CN business license in the
// Hong Kong view.
func BenchmarkRender(b *testing.B) {
	c, _ := schemas.LookupCity("shenzhen")
	evs, _ := bridge.Sample(c, schemas.KindBusiness, 1, 1)
	tx, err := bridge.ToTx("gba", c, evs[0])
	if err != nil {
		b.Fatal(err)
	}
	hk := bridge.For(schemas.HK)
	for b.Loop() {
		if _, err := hk.Render(tx); err != nil {
			b.Fatal(err)
		}
	}
}
