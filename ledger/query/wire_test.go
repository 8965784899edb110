package query

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/schemas"
)

var writeCorpus = flag.Bool("corpus", false, "write the fuzz seed corpus to testdata/fuzz")

func id(b byte) schemas.TxID { return schemas.TxID{b, b + 1, b + 2} }

// requests is one request of every kind, with its fields set.
func requests() []*request {
	return []*request{
		{op: opStatus},
		{op: opLookup, ids: []schemas.TxID{id(1), id(2)}},
		{op: opWait, ids: []schemas.TxID{id(3)}, wait: 1500 * time.Millisecond},
		{op: opProof, key: "CN/91440300MA5FXXXX1X"},
		{op: opHeaders, height: 7, limit: 20},
		{op: opBlock, height: 9, from: 3, limit: 100},
		{op: opTx, ids: []schemas.TxID{id(4)}},
		{op: opHistory, key: "HK/32558131", height: 12, limit: 5},
		{op: opLicenses, filter: LicenseFilter{City: "shenzhen", Holder: "440307199112115050", Status: schemas.StatusValid,
			Kind: schemas.KindBusiness, Jurisdiction: "CN", Cursor: "CN/9144"}, limit: 50},
		{op: opConfig, config: []byte(`{"v":1}`)},
	}
}

// replies is one reply of every kind, encoded, with the decoder that reads
// it and the encoder that writes what it decoded.
type replyCase struct {
	name   string
	data   []byte
	decode func([]byte) (any, error)
	encode func(any) []byte
}

func replies() []replyCase {
	sealedRaw := []byte("GBL1-not-checked-here")
	loc := &located{
		entries: []entry{
			{found: true, height: 4, position: 2, leaf: 1, result: block.OK, path: []schemas.TxID{id(5), id(6)}},
			{},
			{found: true, height: 4, position: 3, leaf: -1, result: block.Rejected},
		},
		headers: []sealed{{raw: sealedRaw, results: []byte{0, 0, 0, 3}}},
	}
	pg := &page{header: sealed{raw: sealedRaw, results: []byte{0, 1}}, total: 2,
		batches: []batchInfo{{index: 0, city: "macao", createdAt: -5, seq: 9, count: 2, root: id(7), keyID: "k1", signature: []byte{1, 2, 3}}},
		txs: []pageTx{{position: 0, batch: 0, inBatch: 0, leaf: 0, result: block.OK, bytes: []byte(`{"v":1}`), path: []schemas.TxID{id(8)}},
			{position: 1, batch: 0, inBatch: 1, leaf: -1, result: block.Duplicate, bytes: []byte(`{"v":2}`)}}}
	tr := &txReply{entry: entry{found: true, height: 3, position: 0, leaf: 0, result: block.OK, path: []schemas.TxID{id(9)}},
		header: sealed{raw: sealedRaw}, bytes: []byte(`{"v":1}`), batch: pg.batches[0], inBatch: 1, batchPath: []schemas.TxID{id(10)}}
	hist := []LicenseVersion{{Height: 9, Status: schemas.StatusSuspended, RecordHash: id(11), TxID: id(12)}, {Height: 2, Status: schemas.StatusValid, RecordHash: id(11), TxID: id(11)}}
	lics := []LicenseEntry{{Key: "CN/A1", City: "shenzhen", Kind: schemas.KindBusiness, Holder: "A1", Name: "安达", Status: schemas.StatusValid, Height: 3, LastTx: id(13)}}
	st := &status{name: "hongkong", height: 12, sealedSeq: 40, ready: true, head: sealedRaw}
	return []replyCase{
		{"status", encodeStatus(st), func(p []byte) (any, error) { return decodeStatus(p) }, func(v any) []byte { return encodeStatus(v.(*status)) }},
		{"located", encodeLocated(loc), func(p []byte) (any, error) { return decodeLocated(p) }, func(v any) []byte { return encodeLocated(v.(*located)) }},
		{"proof", encodeProof([]byte("GBP1...")), func(p []byte) (any, error) { return decodeProof(p) }, func(v any) []byte { return encodeProof(v.([]byte)) }},
		{"headers", encodeHeaders([][]byte{sealedRaw, sealedRaw}), func(p []byte) (any, error) { return decodeHeaders(p) }, func(v any) []byte { return encodeHeaders(v.([][]byte)) }},
		{"page", encodePage(pg), func(p []byte) (any, error) { return decodePage(p) }, func(v any) []byte { return encodePage(v.(*page)) }},
		{"tx", encodeTx(tr), func(p []byte) (any, error) { return decodeTx(p) }, func(v any) []byte { return encodeTx(v.(*txReply)) }},
		{"history", encodeHistory(hist), func(p []byte) (any, error) { return decodeHistory(p) }, func(v any) []byte { return encodeHistory(v.([]LicenseVersion)) }},
		{"licenses", encodeLicenses(lics, "CN/A1"), func(p []byte) (any, error) {
			ls, next, err := decodeLicenses(p)
			return licensesPage{ls, next}, err
		}, func(v any) []byte { lp := v.(licensesPage); return encodeLicenses(lp.ls, lp.next) }},
		{"error", errorReply(codeUnavailable, "busy"), func(p []byte) (any, error) { return decodeStatus(p) }, nil},
	}
}

type licensesPage struct {
	ls   []LicenseEntry
	next string
}

func TestRequestsRoundTrip(t *testing.T) {
	for _, q := range requests() {
		data := encodeRequest(q)
		got, err := decodeRequest(data)
		if err != nil {
			t.Fatalf("op %d: %v", q.op, err)
		}
		if !reflect.DeepEqual(got, q) {
			t.Errorf("op %d: decoded %+v, want %+v", q.op, got, q)
		}
	}
}

func TestRepliesRoundTrip(t *testing.T) {
	for _, rc := range replies() {
		v, err := rc.decode(rc.data)
		if rc.encode == nil {
			var re *ReplyError
			if !errors.As(err, &re) || !errors.Is(err, ErrUnavailable) || re.Message != "busy" {
				t.Errorf("%s: %v, want a ReplyError matching ErrUnavailable", rc.name, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", rc.name, err)
		}
		if again := rc.encode(v); !bytes.Equal(again, rc.data) {
			t.Errorf("%s: re-encoded differently", rc.name)
		}
	}
}

// TestDecodersRefuse: each decoder refuses a truncated message, one with
// trailing bytes and another version, with ErrFormat.
func TestDecodersRefuse(t *testing.T) {
	for _, rc := range replies() {
		if rc.encode == nil {
			continue
		}
		bad := map[string][]byte{
			"truncated": rc.data[:len(rc.data)-1],
			"trailing":  append(bytes.Clone(rc.data), 0),
			"version":   append([]byte{Version + 1}, rc.data[1:]...),
			"code":      append([]byte{Version, maxCode + 1}, rc.data[2:]...),
		}
		for what, data := range bad {
			if _, err := rc.decode(data); !errors.Is(err, ErrFormat) {
				t.Errorf("%s %s: %v, want ErrFormat", rc.name, what, err)
			}
		}
	}
	for _, q := range requests() {
		data := encodeRequest(q)
		if q.op != opStatus {
			if _, err := decodeRequest(data[:len(data)-1]); !errors.Is(err, ErrFormat) {
				t.Errorf("op %d truncated: %v", q.op, err)
			}
		}
		if _, err := decodeRequest(append(bytes.Clone(data), 0)); !errors.Is(err, ErrFormat) {
			t.Errorf("op %d trailing: %v", q.op, err)
		}
	}
	over := encodeRequest(&request{op: opWait, ids: []schemas.TxID{id(1)}, wait: MaxWait + time.Second})
	if _, err := decodeRequest(over); !errors.Is(err, ErrFormat) {
		t.Errorf("a wait over MaxWait: %v", err)
	}
	none := encodeRequest(&request{op: opLookup})
	if _, err := decodeRequest(none); !errors.Is(err, ErrFormat) {
		t.Errorf("a lookup of nothing: %v", err)
	}
}

// FuzzRequest: the request decoder never panics, refuses with ErrFormat,
// and accepts only what encodeRequest writes.
func FuzzRequest(f *testing.F) {
	for _, q := range requests() {
		f.Add(encodeRequest(q))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		q, err := decodeRequest(data)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not match ErrFormat", err)
			}
			return
		}
		if again := encodeRequest(q); !bytes.Equal(again, data) {
			t.Fatalf("accepted %x, which encodes back as %x", data, again)
		}
	})
}

// FuzzReply: every reply decoder never panics, fails with ErrFormat or a
// ReplyError, and accepts only what its encoder writes.
func FuzzReply(f *testing.F) {
	cases := replies()
	for i, rc := range cases {
		f.Add(uint8(i), rc.data)
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		rc := cases[int(which)%len(cases)]
		v, err := rc.decode(data)
		if err != nil {
			var re *ReplyError
			if !errors.Is(err, ErrFormat) && !errors.As(err, &re) {
				t.Fatalf("%s: error %v is neither ErrFormat nor a ReplyError", rc.name, err)
			}
			return
		}
		if rc.encode != nil {
			if again := rc.encode(v); !bytes.Equal(again, data) {
				t.Fatalf("%s: accepted bytes that encode back differently", rc.name)
			}
		}
	})
}

// TestWriteFuzzCorpus writes the seeds of FuzzRequest and FuzzReply to
// testdata/fuzz (run with -corpus after changing the format).
func TestWriteFuzzCorpus(t *testing.T) {
	if !*writeCorpus {
		t.Skip("-corpus not set")
	}
	write := func(name string, i int, args ...string) {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := "go test fuzz v1\n"
		for _, a := range args {
			body += a + "\n"
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, q := range requests() {
		write("FuzzRequest", i, fmt.Sprintf("[]byte(%s)", strconv.Quote(string(encodeRequest(q)))))
	}
	for i, rc := range replies() {
		write("FuzzReply", i, fmt.Sprintf("byte(%d)", i), fmt.Sprintf("[]byte(%s)", strconv.Quote(string(rc.data))))
	}
}
