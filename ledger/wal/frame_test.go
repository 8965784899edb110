package wal

import (
	"bytes"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"testing"
)

func TestCastagnoli(t *testing.T) {
	// The CRC-32C check value from RFC 3720, appendix B.4.
	if got, want := crc32.Checksum([]byte("123456789"), castagnoli), uint32(0xE3069283); got != want {
		t.Fatalf("CRC-32C check value %#x, want %#x", got, want)
	}
}

// TestFrameVector pins the on-disk format: changing it breaks every log
// already written.
func TestFrameVector(t *testing.T) {
	got := hex.EncodeToString(appendFrame(nil, 7, 6, []byte("baybus")))
	want := "b1" + "0000000000000007" + "0000000000000006" + "8433af23" + hex.EncodeToString([]byte("baybus"))
	if got != want {
		t.Fatalf("frame\n got %s\nwant %s", got, want)
	}
}

func TestFrameRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name           string
		index, durable uint64
		payload        []byte
	}{
		{"empty payload", 1, 0, nil},
		{"one byte", 2, 1, []byte{0}},
		{"1 KiB", 1 << 40, 1<<40 - 3, bytes.Repeat([]byte("gba"), 342)},
		{"max index", ^uint64(0), ^uint64(0) - 1, []byte("x")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := appendFrame([]byte("prefix"), tc.index, tc.durable, tc.payload)
			if !bytes.HasPrefix(b, []byte("prefix")) {
				t.Fatal("appendFrame clobbered dst")
			}
			f, payload, err := decodeFrame(b[len("prefix"):])
			if err != nil {
				t.Fatal(err)
			}
			if got, want := f, (frame{tc.index, tc.durable}); got != want {
				t.Fatalf("header %+v, want %+v", got, want)
			}
			if !bytes.Equal(payload, tc.payload) {
				t.Fatalf("payload %q, want %q", payload, tc.payload)
			}
		})
	}
}

func TestDecodeFrameRefuses(t *testing.T) {
	good := appendFrame(nil, 9, 8, []byte("licence 440300-0001"))
	with := func(i int, v byte) []byte {
		b := bytes.Clone(good)
		b[i] = v
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"nil", nil, errShort},
		{"header cut", good[:frameHeader-1], errShort},
		{"payload cut", good[:len(good)-1], errChecksum},
		{"trailing byte", append(bytes.Clone(good), 0), errChecksum},
		{"magic", with(0, 0xB2), errMagic},
		{"index zero", appendFrame(nil, 0, 0, nil), errHeader},
		{"durable equals index", appendFrame(nil, 5, 5, nil), errHeader},
		{"durable above index", appendFrame(nil, 5, 9, nil), errHeader},
		{"crc", with(17, good[17]^1), errChecksum},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := decodeFrame(tc.b); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	// CRC-32C catches every error burst of up to 32 bits, so every flipped
	// byte anywhere in the frame is refused.
	for i := range good {
		for _, mask := range []byte{0x01, 0x80, 0xFF} {
			if _, _, err := decodeFrame(with(i, good[i]^mask)); err == nil {
				t.Fatalf("byte %d ^ %#x accepted", i, mask)
			}
		}
	}
}

// FuzzDecodeFrame checks that the decoder never panics, and that whatever it
// accepts is exactly what appendFrame writes for the decoded values.
func FuzzDecodeFrame(f *testing.F) {
	f.Add(appendFrame(nil, 1, 0, nil))
	f.Add(appendFrame(nil, 2, 1, []byte("baybus")))
	f.Add(appendFrame(nil, 1<<40, 7, bytes.Repeat([]byte{0xB1}, 64)))
	f.Add([]byte{frameMagic})
	f.Add(make([]byte, frameHeader))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, payload, err := decodeFrame(b)
		if err != nil {
			return
		}
		if fr.index == 0 || fr.durable >= fr.index {
			t.Fatalf("accepted impossible header %+v", fr)
		}
		if again := appendFrame(nil, fr.index, fr.durable, payload); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, again)
		}
	})
}
