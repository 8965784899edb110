package reconcile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/baybus/baybus/schemas"
)

// world is the shared test ledger: a Shenzhen history (the first events
// published in canonical form, the rest natively), a Guangzhou history in
// the same jurisdiction and a Hong Kong one.
type world struct {
	tl      *testLedger
	sz      [][]byte // Shenzhen's events, in ledger order
	gz, hk  [][]byte
	hist    map[string]*licenseHistory
	order   []string
	szCount int // Shenzhen's licenses
}

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{sz: sample(t, "shenzhen", "", 300, 7), gz: sample(t, "guangzhou", "", 30, 3), hk: sample(t, "hongkong", "", 20, 5)}
	pubs := natives("shenzhen", w.sz)
	for i := range 20 {
		pubs[i].canonical = true
	}
	blocks := chunks(pubs, 60)
	blocks = append(blocks, append(natives("guangzhou", w.gz), natives("hongkong", w.hk)...))
	w.tl = buildLedger(t, newConsortium(t), blocks...)
	w.hist, w.order = histories(t, schemas.CN, w.sz)
	w.szCount = len(w.order)
	return w
}

// TestSampleIsAValidRegister: the events `baybus sample` prints, published
// to the ledger, read back as a register, fold to exactly the ledger's
// state: nothing is reported.
func TestSampleIsAValidRegister(t *testing.T) {
	w := newWorld(t)
	res := mustReconcile(t, w.tl, "shenzhen", jsonl(w.sz), nil)
	if res.sum.Differences.Total != 0 {
		t.Fatalf("differences %+v:\n%s", res.sum.Differences, res.raw)
	}
	s := res.sum
	if s.Rows != 300 || s.RegisterLicenses != uint64(w.szCount) || s.LedgerLicenses != uint64(w.szCount) || s.Matched != uint64(w.szCount) {
		t.Fatalf("summary %+v, want %d licenses on both sides", s, w.szCount)
	}
	if s.Height != uint64(len(w.tl.recs)) || s.Head != schemas.FormatID(w.tl.recs[len(w.tl.recs)-1].Header.Hash()) {
		t.Fatalf("height %d head %s", s.Height, s.Head)
	}
	// The rows of the transactions in force (the record's, the last
	// change's) that were published natively are matched by their native
	// hash; the others (published in canonical form, or superseded) are
	// normalised.
	fast := uint64(0)
	for _, h := range w.hist {
		for _, i := range []int{h.lastRecord, h.rows[len(h.rows)-1]} {
			if i >= 20 {
				fast++
			}
			if h.lastRecord == h.rows[len(h.rows)-1] {
				break
			}
		}
	}
	if s.FastRows != fast {
		t.Fatalf("fast rows %d, want %d", s.FastRows, fast)
	}
	if s.LedgerTxs != 330 {
		t.Fatalf("ledger transactions of CN %d, want 330", s.LedgerTxs)
	}
}

// injected is a register with differences of every kind and their keys.
type injected struct {
	rows         [][]byte
	ledgerOnly   []string
	registerOnly []string
	fields       []string
	status       []string // register revoked, ledger valid: repairable
	revoked      string   // ledger revoked, register not: unrepairable
	invalidRules []string
}

func inject(t *testing.T, w *world) *injected {
	t.Helper()
	in := &injected{}
	used := map[string]bool{}
	pick := func(n int, ok func(h *licenseHistory) bool) []*licenseHistory {
		var out []*licenseHistory
		for _, k := range w.order {
			h := w.hist[k]
			if len(out) < n && !used[k] && ok(h) {
				used[k] = true
				out = append(out, h)
			}
		}
		if len(out) != n {
			t.Fatalf("only %d licenses fit", len(out))
		}
		return out
	}
	drop := map[int]bool{}
	edit := map[int][]byte{}
	var extra [][]byte
	for _, h := range pick(5, func(*licenseHistory) bool { return true }) {
		in.ledgerOnly = append(in.ledgerOnly, h.key)
		for _, i := range h.rows {
			drop[i] = true
		}
	}
	for _, h := range pick(6, func(h *licenseHistory) bool {
		return h.kind == schemas.KindBusiness && h.status != schemas.StatusRevoked
	}) {
		in.fields = append(in.fields, h.key)
		m := nativeMap(t, w.sz[h.lastRecord])
		m["住所"] = "广东省深圳市南山区科技园路1号" + fmt.Sprint(len(in.fields))
		edit[h.lastRecord] = nativeJSON(t, m)
	}
	for _, h := range pick(3, func(h *licenseHistory) bool { return h.status == schemas.StatusValid }) {
		in.status = append(in.status, h.key)
		m := nativeMap(t, w.sz[h.rows[0]])
		extra = append(extra, nativeJSON(t, map[string]any{"format": m["format"], "事件编号": "register-revoke-" + h.key, "操作": "吊销",
			"发生时间": "2024-06-01T10:00:00+08:00", "原因": "登记簿记录已吊销", idKey(m): m[idKey(m)]}))
	}
	for _, h := range pick(1, func(h *licenseHistory) bool { return h.status == schemas.StatusRevoked && len(h.rows) >= 2 }) {
		in.revoked = h.key
		drop[h.rows[len(h.rows)-1]] = true // its revocation
	}
	for _, h := range pick(1, func(h *licenseHistory) bool { return h.status == schemas.StatusRevoked }) {
		m := nativeMap(t, w.sz[h.lastRecord])
		m["操作"], m["事件编号"] = "变更", "register-amend-after-revoke"
		extra = append(extra, nativeJSON(t, m))
		in.invalidRules = append(in.invalidRules, "register-history")
	}
	n := 0
	for _, e := range sample(t, "shenzhen", schemas.KindBusiness, 40, 99) {
		m := nativeMap(t, e)
		key := "CN/" + fmt.Sprint(m["统一社会信用代码"])
		if m["操作"] != "核发" || w.hist[key] != nil || n == 4 {
			continue
		}
		n++
		in.registerOnly = append(in.registerOnly, key)
		extra = append(extra, e)
	}
	// Invalid rows beside valid ones: they take nothing away.
	extra = append(extra, []byte(`{"format":"cn/business_registration@1","统一社会信用代码":`))
	in.invalidRules = append(in.invalidRules, "json")
	for _, h := range pick(2, func(h *licenseHistory) bool { return h.kind == schemas.KindBusiness }) {
		m := nativeMap(t, w.sz[h.rows[0]])
		if len(extra)%2 == 0 {
			id := m["统一社会信用代码"].(string)
			last := "0"
			if id[17:] == "0" {
				last = "1"
			}
			m["统一社会信用代码"] = id[:17] + last
			in.invalidRules = append(in.invalidRules, "uscc-check")
		} else {
			m[StatusKey] = "bogus"
			in.invalidRules = append(in.invalidRules, "enum")
		}
		extra = append(extra, nativeJSON(t, m))
	}
	for i, e := range w.sz {
		switch {
		case drop[i]:
		case edit[i] != nil:
			in.rows = append(in.rows, edit[i])
		default:
			in.rows = append(in.rows, e)
		}
	}
	in.rows = append(in.rows, extra...)
	slices.Sort(in.ledgerOnly)
	slices.Sort(in.registerOnly)
	slices.Sort(in.fields)
	in.status = append(in.status, in.revoked)
	slices.Sort(in.status)
	slices.Sort(in.invalidRules)
	return in
}

// idKey is the id key of a CN native event.
func idKey(m map[string]any) string {
	for _, k := range []string{"统一社会信用代码", "证书编号", "许可编号"} {
		if _, ok := m[k]; ok {
			return k
		}
	}
	return ""
}

func checkInjected(t *testing.T, res *result, in *injected) {
	t.Helper()
	for _, c := range []struct {
		class Class
		want  []string
	}{{LedgerOnly, in.ledgerOnly}, {RegisterOnly, in.registerOnly}, {FieldsDiffer, in.fields}, {StatusDiffers, in.status}} {
		if got := res.keys(c.class); !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.class, got, c.want)
		}
	}
	var rules []string
	for _, d := range res.byClass(InvalidRow) {
		rules = append(rules, d.Rule)
		if d.Line == 0 {
			t.Errorf("invalid row without a line: %+v", d)
		}
	}
	slices.Sort(rules)
	if !slices.Equal(rules, in.invalidRules) {
		t.Errorf("invalid rules %v, want %v", rules, in.invalidRules)
	}
	if t.Failed() {
		t.Logf("report:\n%s", res.raw)
	}
}

// TestReconcileFindsEveryDifference injects differences of every class with
// known keys and counts; each is found exactly, and nothing else.
func TestReconcileFindsEveryDifference(t *testing.T) {
	w := newWorld(t)
	in := inject(t, w)
	res := mustReconcile(t, w.tl, "shenzhen", jsonl(in.rows), nil)
	checkInjected(t, res, in)
	s := res.sum
	if want := uint64(w.szCount - 5 - 6 - 4); s.Matched != want {
		t.Errorf("matched %d, want %d", s.Matched, want)
	}
	if s.RegisterLicenses != uint64(w.szCount-5+4) || s.LedgerLicenses != uint64(w.szCount) {
		t.Errorf("licenses: register %d ledger %d", s.RegisterLicenses, s.LedgerLicenses)
	}

	for _, d := range res.byClass(FieldsDiffer) {
		var names []string
		for _, f := range d.Fields {
			names = append(names, f.Field)
			if f.Field == "record.address.zh-Hans" && (!strings.Contains(string(f.Register), "科技园路1号") || len(f.Ledger) == 0) {
				t.Errorf("%s: address values %s / %s", d.Key, f.Register, f.Ledger)
			}
		}
		if !slices.Equal(names, []string{"record.address.zh-Hans", "record.address.zh-Hant"}) {
			t.Errorf("%s: fields %v", d.Key, names)
		}
		if !slices.Equal(d.Repair, []schemas.Action{schemas.ActionAmend}) || d.Line == 0 || d.Ledger.RecordTxID == "" {
			t.Errorf("fields difference %+v", d)
		}
	}
	for _, d := range res.byClass(StatusDiffers) {
		switch {
		case d.Key == in.revoked:
			if d.Ledger.Status != schemas.StatusRevoked || d.Unrepairable == "" || len(d.Repair) != 0 {
				t.Errorf("revoked on the ledger: %+v", d)
			}
		case d.Register.Status != schemas.StatusRevoked || d.Ledger.Status != schemas.StatusValid || !slices.Equal(d.Repair, []schemas.Action{schemas.ActionRevoke}):
			t.Errorf("status difference %+v %+v %+v", d, d.Register, d.Ledger)
		}
	}
	for _, d := range res.byClass(RegisterOnly) {
		if !slices.Equal(d.Repair, []schemas.Action{schemas.ActionIssue}) || d.Ledger != nil {
			t.Errorf("register only %+v", d)
		}
	}
	for _, d := range res.byClass(InvalidRow) {
		if d.Rule == "uscc-check" && d.Field != "统一社会信用代码" {
			t.Errorf("uscc-check on field %q", d.Field)
		}
	}
	// 4 issues, 6 amends, 3 revocations.
	if s.Repair == nil || s.Repair.Planned != 13 || s.Repair.Ran {
		t.Errorf("repair %+v", s.Repair)
	}

	// The same report when every row is normalised: the fast path is an
	// optimisation, never a different answer.
	slow := mustReconcile(t, w.tl, "shenzhen", jsonl(in.rows), func(c *Config) { c.noFast = true })
	if !bytes.Equal(slow.raw, res.raw) {
		t.Fatalf("normalising every row changes the report:\nfast:\n%s\nslow:\n%s", res.raw, slow.raw)
	}
	if slow.sum.FastRows != 0 || res.sum.FastRows == 0 {
		t.Fatalf("fast rows: %d with the fast path, %d without", res.sum.FastRows, slow.sum.FastRows)
	}

	// The same register as CSV (without the line that is not JSON).
	var csvRows [][]byte
	for _, r := range in.rows {
		if bytes.HasSuffix(r, []byte(":")) {
			continue
		}
		csvRows = append(csvRows, r)
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, csvRows); err != nil {
		t.Fatal(err)
	}
	csvRes := mustReconcile(t, w.tl, "shenzhen", buf.Bytes(), func(c *Config) { c.Format = FormatCSV })
	csvWant := *in
	csvWant.invalidRules = slices.DeleteFunc(slices.Clone(in.invalidRules), func(r string) bool { return r == "json" })
	checkInjected(t, csvRes, &csvWant)
}

func TestEmptyRegister(t *testing.T) {
	w := newWorld(t)
	for _, f := range []Format{FormatJSONL, FormatCSV} {
		res := mustReconcile(t, w.tl, "shenzhen", nil, func(c *Config) { c.Format = f })
		s := res.sum
		if s.Rows != 0 || s.Differences.LedgerOnly != uint64(w.szCount) || s.Differences.Total != uint64(w.szCount) {
			t.Fatalf("%s: %+v", f, s.Differences)
		}
		for _, d := range res.diffs {
			if d.Ledger.City != "shenzhen" || d.Unrepairable == "" {
				t.Fatalf("%+v", d)
			}
		}
	}
}

// TestWrongCity: a register in another jurisdiction's format cannot be
// reconciled at all (the run stops); a register of another city of the same
// jurisdiction is read, and every license is reported as not the city's,
// naming the city that holds it.
func TestWrongCity(t *testing.T) {
	w := newWorld(t)
	_, err := reconcile(t, w.tl, "shenzhen", jsonl(w.hk), nil)
	if !errors.Is(err, ErrWrongJurisdiction) {
		t.Fatalf("Hong Kong register for Shenzhen: %v", err)
	}
	// 150 rows: stops at the first 100.
	many := jsonl(append(append([][]byte{}, w.hk...), sample(t, "hongkong", "", 130, 6)...))
	if _, err := reconcile(t, w.tl, "shenzhen", many, nil); !errors.Is(err, ErrWrongJurisdiction) {
		t.Fatalf("long Hong Kong register: %v", err)
	}
	// One foreign row among valid ones is an invalid row.
	mixed := jsonl(append(slices.Clone(w.sz), w.hk[0]))
	res := mustReconcile(t, w.tl, "shenzhen", mixed, nil)
	if d := res.byClass(InvalidRow); len(d) != 1 || d[0].Rule != "format-jurisdiction" || d[0].Field != "format" || d[0].Line != 301 {
		t.Fatalf("foreign row: %+v", d)
	}

	res = mustReconcile(t, w.tl, "shenzhen", jsonl(w.gz), nil)
	gzHist, _ := histories(t, schemas.CN, w.gz)
	if got := res.sum.Differences; got.RegisterOnly != uint64(len(gzHist)) || got.LedgerOnly != uint64(w.szCount) || got.Total != got.RegisterOnly+got.LedgerOnly {
		t.Fatalf("Guangzhou register for Shenzhen: %+v", got)
	}
	for _, d := range res.byClass(RegisterOnly) {
		if d.Ledger == nil || d.Ledger.City != "guangzhou" || !strings.Contains(d.Unrepairable, "guangzhou") || len(d.Repair) != 0 {
			t.Fatalf("%+v", d)
		}
	}
}

// TestAsOf reconciles against an earlier height: the ledger side is the
// state the license store held then.
func TestAsOf(t *testing.T) {
	w := newWorld(t)
	const h = 2
	res := mustReconcile(t, w.tl, "shenzhen", jsonl(w.sz), func(c *Config) { c.AsOf = h })
	n := uint64(0)
	err := w.tl.st.IterateAt("CN/", h, func(l leafT) error { n++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if res.sum.Height != h || res.sum.LedgerLicenses != n || res.sum.Blocks != h {
		t.Fatalf("as of %d: %+v, state holds %d", h, res.sum, n)
	}
	if res.sum.Differences.RegisterOnly == 0 || res.sum.Differences.LedgerOnly != 0 {
		t.Fatalf("as of %d: %+v", h, res.sum.Differences)
	}
	if _, err := reconcile(t, w.tl, "shenzhen", nil, func(c *Config) { c.AsOf = 99 }); !errors.Is(err, ErrHeight) {
		t.Fatalf("as of 99: %v", err)
	}
}

// TestLedgerIndexMatchesState: the index reconcile builds from the block
// log agrees, license by license, with the orderers' own license state.
func TestLedgerIndexMatchesState(t *testing.T) {
	w := newWorld(t)
	src, err := OpenBlockLog(w.tl.dir)
	if err != nil {
		t.Fatal(err)
	}
	x, err := openIndex(t.TempDir(), indexOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer x.close()
	r := &run{cfg: Config{Source: src, Trust: w.tl.cons.Bundle}, city: city(t, "shenzhen"), x: x, workers: 2}
	if _, err := r.buildLedger(context.Background(), uint64(len(w.tl.recs))); err != nil {
		t.Fatal(err)
	}
	n := 0
	err = w.tl.st.Iterate("CN/", func(l leafT) error {
		n++
		e, ok, err := x.ledger(l.Key)
		if err != nil || !ok {
			return fmt.Errorf("%s: %v %v", l.Key, ok, err)
		}
		if e.Status != l.Status || e.RecordTx != l.RecordHash || e.LastTx != l.TxID || e.Height != l.Height {
			return fmt.Errorf("%s: index %+v, state %+v", l.Key, e, l)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	gz, _ := histories(t, schemas.CN, w.gz)
	if n != w.szCount+len(gz) {
		t.Fatalf("%d CN licenses in the state", n)
	}
}

// TestBlockLogReadOnly: reconciling a stopped node's log writes nothing
// there, even when the log ends in a torn record (which it reads up to).
func TestBlockLogReadOnly(t *testing.T) {
	w := newWorld(t)
	ents, _ := os.ReadDir(w.tl.dir)
	last := filepath.Join(w.tl.dir, ents[len(ents)-1].Name())
	f, err := os.OpenFile(last, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0x90, 0x03, 0xB1, 0, 0}) // a record cut short
	f.Close()
	before := snapshot(t, w.tl.dir)
	for _, d := range []string{w.tl.dir} {
		os.Chmod(d, 0o555)
		defer os.Chmod(d, 0o755)
	}
	res := mustReconcile(t, w.tl, "shenzhen", jsonl(w.sz), nil)
	if res.sum.Differences.Total != 0 || len(res.sum.Warnings) != 1 || !strings.Contains(res.sum.Warnings[0], "torn write") {
		t.Fatalf("torn tail: %+v %v", res.sum.Differences, res.sum.Warnings)
	}
	if after := snapshot(t, w.tl.dir); after != before {
		t.Fatalf("the block log changed:\n%s\n%s", before, after)
	}
}

func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		fi, _ := e.Info()
		raw, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		fmt.Fprintf(&b, "%s %d %v %x\n", e.Name(), fi.Size(), fi.ModTime(), raw)
	}
	return b.String()
}

// TestDamagedLedger: a flipped byte inside the log and a forged quorum
// certificate stop the run.
func TestDamagedLedger(t *testing.T) {
	w := newWorld(t)
	ents, _ := os.ReadDir(w.tl.dir)
	if len(ents) < 2 {
		t.Fatalf("want several segments, have %d", len(ents))
	}
	first := filepath.Join(w.tl.dir, ents[0].Name())
	raw, _ := os.ReadFile(first)
	raw[len(raw)/2] ^= 0x20
	os.WriteFile(first, raw, 0o640)
	_, err := reconcile(t, w.tl, "shenzhen", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("flipped byte: %v", err)
	}

	// Another consortium's trust bundle: no certificate verifies.
	w2 := newWorld(t)
	w2.tl.cons = newConsortium(t)
	if _, err := reconcile(t, w2.tl, "shenzhen", nil, nil); !errors.Is(err, ErrLedger) {
		t.Fatalf("foreign trust bundle: %v", err)
	}
}
