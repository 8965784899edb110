package blocksync

import (
	"bytes"
	"errors"
	"testing"
)

func TestRequestRoundTrip(t *testing.T) {
	for _, b := range [][]byte{encodePlain(opStatus, 0, 0), encodePlain(opBlocks, 1<<40, 64)} {
		r, err := parsePlain(b)
		if err != nil || !bytes.Equal(encodePlain(r.op, r.from, r.count), b) {
			t.Fatalf("%x: %+v, %v", b, r, err)
		}
	}
	ids := []string{"a", "batch-2"}
	r, err := parseBatches(encodeBatches(ids))
	if err != nil || len(r.ids) != 2 || r.ids[1] != "batch-2" {
		t.Fatalf("batches: %+v, %v", r, err)
	}
	for _, bad := range [][]byte{
		encodeBatches(nil),                           // no id
		encodeBatches(make([]string, MaxBatchIDs+1)), // too many
		append(encodeBatches(ids), 0),                // trailing byte
		encodePlain(opBatches, 0, 0),                 // unsigned batches
	} {
		if _, err := parseBatches(bad); !errors.Is(err, ErrRequest) {
			if _, err := parsePlain(bad); !errors.Is(err, ErrRequest) {
				t.Fatalf("%x accepted", bad)
			}
		}
	}
	if h, err := parseStatus(encodeStatus(77)); err != nil || h != 77 {
		t.Fatalf("status: %d, %v", h, err)
	}
}

// FuzzParseRequest: a request never panics the server, and what parses is
// exactly what the client encodes.
func FuzzParseRequest(f *testing.F) {
	f.Add(encodePlain(opStatus, 0, 0))
	f.Add(encodePlain(opBlocks, 3, 32))
	f.Add(encodeBatches([]string{"x", "y"}))
	f.Add([]byte("GSQ1\x03\xff\xff\xff\xff\x0f"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if r, err := parsePlain(data); err == nil && !bytes.Equal(encodePlain(r.op, r.from, r.count), data) {
			t.Fatalf("plain request %x re-encodes as %x", data, encodePlain(r.op, r.from, r.count))
		}
		if r, err := parseBatches(data); err == nil {
			if len(r.ids) == 0 || len(r.ids) > MaxBatchIDs || !bytes.Equal(encodeBatches(r.ids), data) {
				t.Fatalf("batches request %x parsed as %q", data, r.ids)
			}
		}
	})
}

func FuzzParseStatus(f *testing.F) {
	f.Add(encodeStatus(5))
	f.Add([]byte("GSS1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if h, err := parseStatus(data); err == nil && !bytes.Equal(encodeStatus(h), data) {
			t.Fatalf("status %x parsed as %d", data, h)
		}
	})
}
