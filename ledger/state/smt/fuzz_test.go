package smt

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzProofUnmarshal: the decoder never panics, and what it accepts
// re-encodes to the same bytes (one encoding per proof) and survives JSON.
func FuzzProofUnmarshal(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0})
	f.Add([]byte{1, 1, 0, 1, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Proof
		if err := p.UnmarshalBinary(b); err != nil {
			return
		}
		again, err := p.MarshalBinary()
		if err != nil {
			t.Fatalf("accepted proof does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoded %x, decoded from %x", again, b)
		}
		js, err := json.Marshal(&p)
		if err != nil {
			t.Fatal(err)
		}
		var q Proof
		if err := json.Unmarshal(js, &q); err != nil {
			t.Fatal(err)
		}
		// Verification of an arbitrary proof must fail cleanly, never panic.
		_ = VerifyProof(Empty, "CN/fuzz", nil, &p)
	})
}

// FuzzLeafUnmarshal: the leaf decoder never panics and accepts only
// canonical encodings.
func FuzzLeafUnmarshal(f *testing.F) {
	f.Add([]byte{1, 1, 'k', 1})
	v2 := Leaf{Key: "HK/RGI-648009", Status: "valid", Height: 3, Owner: "hongkong", ValidTo: "2018-10-09"}
	if b, err := v2.MarshalBinary(); err == nil {
		f.Add(b)
	}
	v3 := Leaf{Key: "grant/shenzhen/g1", Status: "valid", Height: 3, Owner: "shenzhen", ValidTo: "2026-12-31",
		Kind: "share_grant", Uses: 7, Terms: `{"reader":"hk-bank"}`}
	if b, err := v3.MarshalBinary(); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var l Leaf
		if err := l.UnmarshalBinary(b); err != nil {
			return
		}
		again, err := l.MarshalBinary()
		if err != nil {
			t.Fatalf("accepted leaf does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoded %x, decoded from %x", again, b)
		}
	})
}
