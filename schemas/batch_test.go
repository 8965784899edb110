package schemas_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

func sha256sum(b []byte) [32]byte { return sha256.Sum256(b) }

func consortium(t testing.TB) *keys.Consortium {
	c, err := keys.NewConsortium("gba", schemas.CityTokens(), []string{"a", "b", "c", "d"}, keys.Ed25519, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestBatchRoundTripAndRejections(t *testing.T) {
	c := consortium(t)
	txs := [][]byte{[]byte(`{"a":1}`), []byte(`{"b":2}`), []byte(`{"c":3}`)}
	b, err := schemas.SealBatch("gba", "zhuhai", 42, 1, txs, c.Cities["zhuhai"])
	if err != nil {
		t.Fatal(err)
	}
	frame := b.Encode()
	d, err := schemas.DecodeBatch(frame)
	if err != nil {
		t.Fatal(err)
	}
	if d.ID() != b.ID() || len(d.Txs) != 3 || !bytes.Equal(d.Txs[2], txs[2]) {
		t.Fatal("round trip changed the batch")
	}
	if err := schemas.VerifyBatch(d, c.Bundle, 0); err != nil {
		t.Fatal(err)
	}

	// A transaction changed by one byte no longer hashes to the signed root.
	bad := bytes.Clone(frame)
	bad[len(bad)-2] ^= 1
	if _, err := schemas.DecodeBatch(bad); !errors.Is(err, schemas.ErrBatchRoot) {
		t.Fatalf("altered tx: %v, want ErrBatchRoot", err)
	}
	// Truncated frames, trailing bytes.
	for _, n := range []int{0, 3, 10, len(frame) / 2, len(frame) - 1} {
		if _, err := schemas.DecodeBatch(frame[:n]); err == nil {
			t.Fatalf("frame truncated to %d accepted", n)
		}
	}
	if _, err := schemas.DecodeBatch(append(bytes.Clone(frame), 0)); !errors.Is(err, schemas.ErrBatchFormat) {
		t.Fatalf("trailing byte: %v", err)
	}
	// Signature checks: claimed by another city, altered signature, another chain.
	other := *d
	other.City = "macao"
	if err := schemas.VerifyBatch(&other, c.Bundle, 0); !errors.Is(err, keys.ErrUnknownKey) {
		t.Fatalf("batch claiming another city: %v", err)
	}
	forged := *d
	forged.Signature = bytes.Clone(d.Signature)
	forged.Signature[0] ^= 1
	if err := schemas.VerifyBatch(&forged, c.Bundle, 0); !errors.Is(err, keys.ErrBadSignature) {
		t.Fatalf("forged signature: %v", err)
	}
	foreign, _ := schemas.SealBatch("other-chain", "zhuhai", 42, 1, txs, c.Cities["zhuhai"])
	if err := schemas.VerifyBatch(foreign, c.Bundle, 0); err == nil {
		t.Fatal("batch of another chain accepted")
	}
	if _, err := schemas.SealBatch("gba", "zhuhai", 1, 1, nil, c.Cities["zhuhai"]); !errors.Is(err, schemas.ErrBatchTooBig) {
		t.Fatalf("empty batch: %v", err)
	}
}

// TestSealBatchIDs: sealed with the ids its caller computed, a batch is
// the batch SealBatch makes; with a wrong id its root is one the decoder
// refuses; with a wrong number of ids it is not sealed.
func TestSealBatchIDs(t *testing.T) {
	c := consortium(t)
	key := c.Cities["zhuhai"]
	txs := [][]byte{[]byte(`{"a":1}`), []byte(`{"b":2}`)}
	ids := []schemas.TxID{schemas.ComputeTxID(txs[0]), schemas.ComputeTxID(txs[1])}
	want, err := schemas.SealBatch("gba", "zhuhai", 7, 3, txs, key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := schemas.SealBatchIDs("gba", "zhuhai", 7, 3, txs, ids, key)
	if err != nil {
		t.Fatal(err)
	}
	if got.Root != want.Root || got.ID() != want.ID() {
		t.Fatalf("root %x, id %s; SealBatch: %x, %s", got.Root, got.ID(), want.Root, want.ID())
	}
	wrong, err := schemas.SealBatchIDs("gba", "zhuhai", 7, 3, txs, []schemas.TxID{ids[1], ids[0]}, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := schemas.DecodeBatch(wrong.Encode()); !errors.Is(err, schemas.ErrBatchRoot) {
		t.Fatalf("batch sealed with wrong ids decoded: %v, want ErrBatchRoot", err)
	}
	if _, err := schemas.SealBatchIDs("gba", "zhuhai", 7, 3, txs, ids[:1], key); err == nil {
		t.Fatal("sealed with one id for two transactions")
	}
}

func FuzzDecodeBatch(f *testing.F) {
	c := consortium(f)
	b, _ := schemas.SealBatch("gba", "macao", 1, 1, [][]byte{[]byte(`{"x":1}`), []byte(`{}`)}, c.Cities["macao"])
	f.Add(b.Encode())
	f.Add([]byte("GBB1"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		d, err := schemas.DecodeBatch(p)
		if err != nil {
			return
		}
		if !bytes.Equal(d.Encode(), p) {
			t.Fatal("a decoded frame does not re-encode to itself")
		}
	})
}

func FuzzDecodeTx(f *testing.F) {
	f.Add([]byte(`{"v":1,"chain":"gba","city":"macao"}`))
	f.Add([]byte(`{"record":{"id":"x"},"v":1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, p []byte) {
		tx, err := schemas.DecodeTx(p)
		if err != nil {
			return
		}
		// Whatever decodes must encode again (it may differ from p only by
		// empty fields the envelope omits).
		if _, err := schemas.Canonical(tx); err != nil {
			t.Fatalf("decoded tx does not encode: %v", err)
		}
	})
}
