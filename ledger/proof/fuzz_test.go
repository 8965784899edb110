package proof_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	baybusproof "github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/schemas/keys"
)

func fuzzTrust(f *testing.F) *keys.Bundle {
	trust, err := keys.LoadBundle(filepath.Join("testdata", "trust.json"))
	if err != nil {
		f.Fatal(err)
	}
	return trust
}

// FuzzDecodeBinary: the binary decoder never panics, refuses with
// ErrFormat, and accepts only the bytes MarshalBinary writes; whatever it
// accepts survives the JSON form and goes through Verify without panicking.
func FuzzDecodeBinary(f *testing.F) {
	trust := fuzzTrust(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := baybusproof.DecodeBinary(data)
		if err != nil {
			if !errors.Is(err, baybusproof.ErrFormat) {
				t.Fatalf("error %v does not match ErrFormat", err)
			}
			return
		}
		again, err := b.MarshalBinary()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("accepted bytes that do not encode back (%v)", err)
		}
		js, err := baybusproof.EncodeJSON(b)
		if err != nil {
			t.Fatal(err)
		}
		fromJSON, err := baybusproof.DecodeJSON(js)
		if err != nil {
			t.Fatalf("JSON of a decoded bundle: %v", err)
		}
		if bin, _ := fromJSON.MarshalBinary(); !bytes.Equal(bin, data) {
			t.Fatal("JSON round trip changed the bundle")
		}
		checkVerify(t, trust, b)
	})
}

// FuzzDecodeJSON: the JSON decoder never panics, refuses with ErrFormat,
// and whatever it accepts has a binary form that decodes to the same
// bundle and goes through Verify without panicking.
func FuzzDecodeJSON(f *testing.F) {
	trust := fuzzTrust(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := baybusproof.DecodeJSON(data)
		if err != nil {
			if !errors.Is(err, baybusproof.ErrFormat) {
				t.Fatalf("error %v does not match ErrFormat", err)
			}
			return
		}
		bin, err := b.MarshalBinary()
		if err != nil {
			t.Fatalf("accepted JSON has no binary form: %v", err)
		}
		fromBin, err := baybusproof.DecodeBinary(bin)
		if err != nil {
			t.Fatalf("binary of a decoded bundle: %v", err)
		}
		if again, _ := fromBin.MarshalBinary(); !bytes.Equal(again, bin) {
			t.Fatal("binary round trip changed the bundle")
		}
		checkVerify(t, trust, b)
	})
}

func checkVerify(t *testing.T, trust *keys.Bundle, b *baybusproof.Bundle) {
	v, err := baybusproof.Verify(trust, b)
	if err != nil {
		if baybusproof.CheckName(err) == "" {
			t.Fatalf("rejection %v names no check", err)
		}
		return
	}
	if v == nil || v.Tx == nil {
		t.Fatal("no verdict")
	}
}
