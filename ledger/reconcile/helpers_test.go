package reconcile

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/licenses"
	"github.com/baybus/baybus/ledger/orderer/ordertest"
	"github.com/baybus/baybus/ledger/state"
	"github.com/baybus/baybus/ledger/wal"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/disclose"
	"github.com/baybus/baybus/schemas/keys"
)

type leafT = state.Leaf

var testOrderers = []string{"hongkong", "macao", "qianhai", "hengqin"}

func newConsortium(t testing.TB) *keys.Consortium {
	t.Helper()
	// Rules version 2 by name: these records name persons in plaintext,
	// which a chain of version 3 (the default) seals as invalid.
	c, err := keys.NewConsortiumRules("gba-test", schemas.CityTokens(), testOrderers, keys.Schemes{City: keys.Ed25519, Orderer: keys.Ed25519}, block.Rules2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func city(t testing.TB, token string) schemas.City {
	t.Helper()
	c, err := schemas.LookupCity(token)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sample returns n native events of a city.
func sample(t testing.TB, token string, kind schemas.Kind, n int, seed int64) [][]byte {
	t.Helper()
	evs, err := bridge.Sample(city(t, token), kind, n, seed)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// pub is one event to put on the test ledger: native (through the bridge,
// as a gateway does for ?format=native) or canonical (no native hash).
type pub struct {
	city      string
	native    []byte
	canonical bool
	// redact publishes it as a gateway of rules version 3 does: personal
	// fields as salted digests, the disclosures and the native hash kept
	// in the city's store (testLedger.disc).
	redact bool
}

// storeT is a city's store of disclosures, by transaction.
type storeT map[schemas.TxID]storeRec

type storeRec struct {
	items  []disclose.Item
	native string
}

func (s storeT) Disclosures(id schemas.TxID) ([]disclose.Item, string, bool, error) {
	r, ok := s[id]
	return r.items, r.native, ok, nil
}

func natives(token string, evs [][]byte) []pub {
	out := make([]pub, len(evs))
	for i, e := range evs {
		out[i] = pub{city: token, native: e}
	}
	return out
}

// testLedger is a real chain: signed batches, blocks assembled with the
// orderers' rules over a real license state, quorum certificates of three
// of the four orderers, written to a block log with ledger/wal.
type testLedger struct {
	cons *keys.Consortium
	dir  string // the block log
	st   *licenses.State
	recs []*blocklog.Record
	disc storeT // the disclosures of the events published redacted
}

// buildLedger seals each group of events as one block.
func buildLedger(t testing.TB, cons *keys.Consortium, blocks ...[]pub) *testLedger {
	t.Helper()
	tl := &testLedger{cons: cons, dir: filepath.Join(t.TempDir(), "blocks"), disc: storeT{}}
	st, err := licenses.Open(t.TempDir(), state.Options{NoSync: true, CacheSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tl.st = st
	l, err := wal.Open(tl.dir, wal.Options{NoSync: true, SegmentSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sealer := &ordertest.Sealer{Cons: cons, Signers: testOrderers[:3], State: st}
	seq := uint64(0)
	for bi, evs := range blocks {
		h := uint64(bi + 1)
		byCity := map[string][][]byte{}
		var order []string
		for _, p := range evs {
			c := city(t, p.city)
			tx, err := bridge.ToTx(cons.Bundle.Chain, c, p.native)
			if err != nil {
				t.Fatalf("block %d: %s: %v", h, p.native, err)
			}
			if p.canonical {
				tx.NativeFormat, tx.NativeHash = "", ""
			}
			var kept *storeRec
			if p.redact {
				red, items, err := disclose.Redact(tx, disclose.RandomSalter{R: rand.Reader})
				if err != nil {
					t.Fatal(err)
				}
				kept = &storeRec{items: items, native: red.NativeHash}
				red.NativeFormat, red.NativeHash = "", ""
				tx = red
			}
			raw, err := schemas.EncodeTx(tx)
			if err != nil {
				t.Fatal(err)
			}
			if kept != nil {
				tl.disc[schemas.ComputeTxID(raw)] = *kept
			}
			if byCity[p.city] == nil {
				order = append(order, p.city)
			}
			byCity[p.city] = append(byCity[p.city], raw)
		}
		var batches []*schemas.Batch
		for _, c := range order {
			txs := byCity[c]
			for len(txs) > 0 {
				n := min(len(txs), 200)
				seq++
				batches = append(batches, blocktest.Batch(cons, c, seq, txs[:n]...))
				txs = txs[n:]
			}
		}
		rec, _ := sealer.Seal(t, batches...)
		if _, err := l.Append(rec.Encode()); err != nil {
			t.Fatal(err)
		}
		tl.recs = append(tl.recs, rec)
	}
	return tl
}

// chunks cuts events into blocks of n.
func chunks(evs []pub, n int) [][]pub {
	var out [][]pub
	for len(evs) > 0 {
		k := min(n, len(evs))
		out = append(out, evs[:k])
		evs = evs[k:]
	}
	return out
}

// result is one run's summary and differences.
type result struct {
	sum   *Summary
	diffs []Difference
	raw   []byte
}

func (r *result) byClass(c Class) []Difference {
	var out []Difference
	for _, d := range r.diffs {
		if d.Class == c {
			out = append(out, d)
		}
	}
	return out
}

func (r *result) keys(c Class) []string {
	var out []string
	for _, d := range r.byClass(c) {
		out = append(out, d.Key)
	}
	slices.Sort(out)
	return out
}

func reconcile(t testing.TB, tl *testLedger, token string, register []byte, mod func(*Config)) (*result, error) {
	t.Helper()
	src, err := OpenBlockLog(tl.dir)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cfg := Config{City: city(t, token), Source: src, Trust: tl.cons.Bundle, Register: bytes.NewReader(register),
		RegisterName: "test", Format: FormatJSONL, Differences: &out, TempDir: t.TempDir(), Workers: 2}
	if mod != nil {
		mod(&cfg)
	}
	sum, err := Run(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	res := &result{sum: sum, raw: out.Bytes()}
	sc := bufio.NewScanner(bytes.NewReader(out.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var d Difference
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("difference line %q: %v", sc.Text(), err)
		}
		res.diffs = append(res.diffs, d)
	}
	if uint64(len(res.diffs)) != sum.Differences.Total {
		t.Fatalf("%d difference lines, summary counts %d", len(res.diffs), sum.Differences.Total)
	}
	return res, nil
}

func mustReconcile(t testing.TB, tl *testLedger, token string, register []byte, mod func(*Config)) *result {
	t.Helper()
	res, err := reconcile(t, tl, token, register, mod)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func jsonl(rows [][]byte) []byte {
	var b bytes.Buffer
	for _, r := range rows {
		b.Write(r)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// nativeMap decodes a native event.
func nativeMap(t testing.TB, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func nativeJSON(t testing.TB, m map[string]any) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(b.Bytes())
}

// history folds sample events by license with the ledger's rule: the key,
// final status and the index of the last full-record event of each.
type licenseHistory struct {
	key        string
	kind       schemas.Kind
	status     schemas.Status
	lastRecord int   // index of the last issue or amend
	rows       []int // indexes of its events
}

func histories(t testing.TB, j schemas.Jurisdiction, evs [][]byte) (map[string]*licenseHistory, []string) {
	t.Helper()
	br := bridge.For(j)
	out := map[string]*licenseHistory{}
	var order []string
	for i, e := range evs {
		ev, _, err := br.Normalize(e)
		if err != nil {
			t.Fatal(err)
		}
		key := schemas.LicenseKey(j, ev.Record.ID)
		h := out[key]
		if h == nil {
			h = &licenseHistory{key: key, kind: ev.Kind}
			out[key] = h
			order = append(order, key)
		}
		next, ok := schemas.StatusAfter(h.status, ev.Action)
		if !ok {
			t.Fatalf("sample event %d does not apply", i)
		}
		h.status = next
		if ev.Action.FullRecord() {
			h.lastRecord = i
		}
		h.rows = append(h.rows, i)
	}
	return out, order
}

func isCN(s string) bool { return strings.HasPrefix(s, "CN/") }
