package wire

import (
	"bytes"
	"testing"
)

func TestRoundTripAndStrictness(t *testing.T) {
	b := AppendString(nil, "gba")
	b = AppendBytes(b, []byte{1, 2, 3})
	b = append(b, 0, 0, 0, 7)
	r := NewReader(b)
	if r.String(8) != "gba" || !bytes.Equal(r.Bytes(8), []byte{1, 2, 3}) || r.U32() != 7 || r.Err() != nil || r.Len() != 0 {
		t.Fatalf("round trip failed: %v", r.Err())
	}
	for name, p := range map[string][]byte{
		"non-minimal uvarint": {0x83, 0x00, 'g', 'b', 'a'},
		"over limit":          AppendString(nil, "too long"),
		"truncated":           {5, 'a'},
		"bad uvarint":         {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	} {
		r := NewReader(p)
		r.String(4)
		if r.Err() == nil {
			t.Errorf("%s accepted", name)
		}
		if r.U64() != 0 || r.Take(0) != nil {
			t.Errorf("%s: reads after an error return values", name)
		}
	}
}

func FuzzReader(f *testing.F) {
	f.Add(AppendBytes(AppendString(nil, "x"), []byte("yz")))
	f.Fuzz(func(t *testing.T, p []byte) {
		r := NewReader(p)
		a, b := r.Bytes(1<<20), r.Bytes(1<<20)
		if r.Err() != nil {
			return
		}
		if again := AppendBytes(AppendBytes(nil, a), b); !bytes.Equal(again, p[:len(p)-r.Len()]) {
			t.Fatalf("decoded fields do not re-encode to the same bytes")
		}
	})
}
