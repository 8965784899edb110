package bft

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/baybus/baybus/schemas/keys"
)

func FuzzDecodeEnvelope(f *testing.F) {
	c, err := keys.NewConsortium("gba-test", []string{"shenzhen"}, orderers, keys.Ed25519, rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	frames, _ := Seal(c.Bundle.Chain, c.Orderers["macao"], KindConsensus, "macao", "hongkong", 1, []byte("payload"), 4)
	for _, fr := range frames {
		f.Add(fr)
	}
	f.Add([]byte("GBE1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeEnvelope(data)
		if err != nil {
			return
		}
		again, err := DecodeEnvelope(e.Encode())
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !bytes.Equal(again.Encode(), e.Encode()) {
			t.Fatal("encoding not stable")
		}
		_ = e.Verify(c.Bundle, 1) // must not panic
		var re Reassembler
		re.Add(e)
	})
}
