package reconcile

import (
	"testing"

	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/schemas"
)

func BenchmarkScan(b *testing.B) {
	c, _ := schemas.LookupCity("shenzhen")
	evs, _ := bridge.Sample(c, schemas.KindBusiness, 1, 1)
	canon, _ := schemas.CanonicalizeJSON(evs[0])
	tx, _ := bridge.ToTx("gba", c, evs[0])
	enc, _ := schemas.EncodeTx(tx)
	b.Run("members-row", func(b *testing.B) {
		for b.Loop() {
			members(canon, func(k, v []byte) error { return nil })
		}
	})
	b.Run("scanTx", func(b *testing.B) {
		for b.Loop() {
			scanTx(enc)
		}
	})
	b.Run("canonicalize-row", func(b *testing.B) {
		for b.Loop() {
			schemas.CanonicalizeJSON(evs[0])
		}
	})
	nk, _ := learnNativeKeys(schemas.CN)
	p := &preparer{j: schemas.CN, nk: nk}
	b.Run("parse", func(b *testing.B) {
		for b.Loop() {
			r := rawRow{data: evs[0]}
			p.parse(&r)
		}
	})
	b.Logf("row %d bytes, tx %d bytes", len(canon), len(enc))
}
