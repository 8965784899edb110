package reconcile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/wal"
	"github.com/baybus/baybus/schemas"
)

func TestMembers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string // key=value
		err  bool
	}{
		{in: `{}`},
		{in: `{"a":1,"b":"x\"y","c":{"d":[1,{"e":"}"}]},"f":true}`, want: []string{`a=1`, `b="x\"y"`, `c={"d":[1,{"e":"}"}]}`, `f=true`}},
		{in: `{"k\\":"v\\\\"}`, want: []string{`k\\="v\\\\"`}},
		{in: `{"a":1`, err: true},
		{in: `[1]`, err: true},
		{in: `{"a":"x}`, err: true},
		{in: `{"a":1}x`, err: true},
		{in: `{"a":}`, err: true},
	} {
		var got []string
		err := members([]byte(tc.in), func(k, v []byte) error {
			got = append(got, string(k)+"="+string(v))
			return nil
		})
		if (err != nil) != tc.err || !tc.err && !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, %v", tc.in, got, err)
		}
	}
}

// FuzzMembers: on any canonical object, members sees exactly the members
// encoding/json sees.
func FuzzMembers(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":{"b":[1,"]"]},"c":"\\\""}`, `{"统一社会信用代码":"91440300MA5F0000X1"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		canon, err := schemas.CanonicalizeJSON(in)
		if err != nil || len(canon) == 0 || canon[0] != '{' {
			members(in, func(k, v []byte) error { return nil }) // must not panic
			return
		}
		var want map[string]json.RawMessage
		if err := json.Unmarshal(canon, &want); err != nil {
			t.Fatal(err)
		}
		n := 0
		err = members(canon, func(k, v []byte) error {
			n++
			var key string
			if err := json.Unmarshal(append(append([]byte{'"'}, k...), '"'), &key); err != nil {
				return err
			}
			if w, ok := want[key]; !ok || !bytes.Equal(w, v) {
				return fmt.Errorf("member %q = %s, want %s", key, v, w)
			}
			return nil
		})
		if err != nil || n != len(want) {
			t.Fatalf("%s: %d members, want %d: %v", canon, n, len(want), err)
		}
	})
}

func TestDiffRecords(t *testing.T) {
	reg := []byte(`{"address":{"zh-Hans":"新地址"},"capital":{"amount":"100","currency":"CNY"},"id":"X","people":[{"name":{"en":"A"}}]}`)
	led := []byte(`{"address":{"zh-Hans":"旧地址"},"capital":{"amount":"100","currency":"CNY"},"id":"X","people":[{"name":{"en":"A"}},{"name":{"en":"B"}}],"scope":{"en":"s"}}`)
	got, err := diffRecords(reg, led)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got)
	want := `[{"field":"record.address.zh-Hans","register":"新地址","ledger":"旧地址"},{"field":"record.people.1.name.en","ledger":"B"},{"field":"record.scope.en","ledger":"s"}]`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}

func TestFold(t *testing.T) {
	row := func(line uint64, a schemas.Action, st schemas.Status) *regRow {
		return &regRow{Line: line, Action: a, Status: st, Kind: schemas.KindBusiness, OccurredAt: fmt.Sprint(line)}
	}
	for _, tc := range []struct {
		name    string
		rows    []*regRow
		status  schemas.Status
		record  bool
		invalid []uint64
	}{
		{"one issue", []*regRow{row(1, schemas.ActionIssue, "")}, schemas.StatusValid, true, nil},
		{"revoked row only", []*regRow{row(1, schemas.ActionRevoke, "")}, schemas.StatusRevoked, false, nil},
		{"amend first", []*regRow{row(1, schemas.ActionAmend, "")}, schemas.StatusValid, true, nil},
		{"history", []*regRow{row(1, schemas.ActionIssue, ""), row(2, schemas.ActionSuspend, ""), row(3, schemas.ActionAmend, "")}, schemas.StatusSuspended, true, nil},
		{"amend after revoke", []*regRow{row(1, schemas.ActionIssue, ""), row(2, schemas.ActionRevoke, ""), row(3, schemas.ActionAmend, "")}, schemas.StatusRevoked, true, []uint64{3}},
		{"suspend twice", []*regRow{row(1, schemas.ActionIssue, ""), row(2, schemas.ActionSuspend, ""), row(3, schemas.ActionSuspend, "")}, schemas.StatusSuspended, true, []uint64{3}},
		{"explicit status", []*regRow{row(1, schemas.ActionIssue, schemas.StatusExpired)}, schemas.StatusExpired, true, nil},
	} {
		var f folder
		for _, r := range tc.rows {
			f.add("CN/X", r, "操作")
		}
		var lines []uint64
		for _, d := range f.invalid {
			lines = append(lines, d.Line)
			if d.Rule != "register-history" || d.Field != "操作" {
				t.Errorf("%s: %+v", tc.name, d)
			}
		}
		if f.lic.Status != tc.status || f.lic.HasRecord != tc.record || !slices.Equal(lines, tc.invalid) {
			t.Errorf("%s: status %s record %v invalid %v", tc.name, f.lic.Status, f.lic.HasRecord, lines)
		}
	}
}

func TestJudge(t *testing.T) {
	led := func(st schemas.Status, city string) *ledgerEntry {
		return &ledgerEntry{Status: st, City: city, Kind: schemas.KindBusiness}
	}
	reg := func(st schemas.Status, same, record bool) *regLicense {
		return &regLicense{Rows: 1, Status: st, Same: same, HasRecord: record, Kind: schemas.KindBusiness, Record: []byte(`{"id":"X"}`)}
	}
	V, S, R, E := schemas.StatusValid, schemas.StatusSuspended, schemas.StatusRevoked, schemas.StatusExpired
	A := func(a ...schemas.Action) []schemas.Action { return a }
	for _, tc := range []struct {
		name    string
		reg     *regLicense
		led     *ledgerEntry
		classes []Class
		fields  bool
		repair  []schemas.Action
		matched bool
	}{
		{"match", reg(V, true, true), led(V, "shenzhen"), nil, false, nil, true},
		{"ledger only", nil, led(S, "shenzhen"), []Class{LedgerOnly}, false, nil, false},
		{"another city's", nil, led(V, "guangzhou"), nil, false, nil, false},
		{"register only", reg(V, false, true), nil, []Class{RegisterOnly}, false, A(schemas.ActionIssue), false},
		{"register only, suspended", reg(S, false, true), nil, []Class{RegisterOnly}, false, A(schemas.ActionIssue, schemas.ActionSuspend), false},
		{"register only, no record", reg(R, false, false), nil, []Class{RegisterOnly}, false, nil, false},
		{"held by another city", reg(V, false, true), led(V, "guangzhou"), []Class{RegisterOnly}, false, nil, false},
		{"fields", reg(V, false, true), led(V, "shenzhen"), nil, true, A(schemas.ActionAmend), false},
		{"fields and status", reg(R, false, true), led(S, "shenzhen"), []Class{StatusDiffers}, true, A(schemas.ActionAmend, schemas.ActionRevoke), false},
		{"valid here, revoked there", reg(V, true, true), led(R, "shenzhen"), []Class{StatusDiffers}, false, nil, false},
		{"revoked there, fields differ", reg(R, false, true), led(R, "shenzhen"), nil, true, nil, false},
		{"reinstate", reg(V, true, true), led(S, "shenzhen"), []Class{StatusDiffers}, false, A(schemas.ActionReinstate), false},
		{"expired to suspended", reg(S, true, true), led(E, "shenzhen"), []Class{StatusDiffers}, false, nil, false},
		{"status only row", reg(S, false, false), led(V, "shenzhen"), []Class{StatusDiffers}, false, A(schemas.ActionSuspend), false},
	} {
		v := judge("shenzhen", "CN/X", tc.reg, tc.led)
		var classes []Class
		for _, d := range v.diffs {
			classes = append(classes, d.Class)
			if len(d.Repair) == 0 && d.Unrepairable == "" && d.Class != RegisterOnly {
				t.Errorf("%s: %s difference neither repaired nor explained", tc.name, d.Class)
			}
		}
		if !slices.Equal(classes, tc.classes) || (v.fields != nil) != tc.fields || !slices.Equal(v.repair, tc.repair) || v.matched != tc.matched {
			t.Errorf("%s: classes %v fields %v repair %v matched %v", tc.name, classes, v.fields != nil, v.repair, v.matched)
		}
	}
}

// TestRepairEventsDeterministic: the same difference gives the same events
// (so the same transaction ids); a different record, another.
func TestRepairEventsDeterministic(t *testing.T) {
	c := city(t, "shenzhen")
	reg := &regLicense{Status: schemas.StatusSuspended, Kind: schemas.KindBusiness, HasRecord: true, Record: []byte(`{"id":"X","name":{"zh-Hans":"甲"}}`), RecordAt: "2024-01-01T00:00:00+08:00", StatusAt: "2024-02-01T00:00:00+08:00"}
	a, err := repairEvents(c, "CN/X", reg, "", []schemas.Action{schemas.ActionIssue, schemas.ActionSuspend})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := repairEvents(c, "CN/X", reg, "", []schemas.Action{schemas.ActionIssue, schemas.ActionSuspend})
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) || a[0].EventID == a[1].EventID || a[1].Reason == "" || a[1].Record.ID != "X" || a[0].Record.Name["zh-Hans"] != "甲" {
		t.Fatalf("%s\n%s", ja, jb)
	}
	reg2 := *reg
	reg2.RecordHash[0] = 1
	c2, _ := repairEvents(c, "CN/X", &reg2, "", []schemas.Action{schemas.ActionIssue})
	if c2[0].EventID == a[0].EventID {
		t.Fatal("another record, the same event id")
	}
}

func TestCSVHeader(t *testing.T) {
	for _, tc := range []struct {
		header []string
		err    string
	}{
		{[]string{"format", "brNumber", "businessName.zh", "registerStatus"}, ""},
		{[]string{"brNumber"}, "no \"format\" column"},
		{[]string{"format", "a", "a"}, "twice"},
		{[]string{"format", "holder", "holder.name"}, "overlap"},
		{[]string{"format", "a..b"}, "key path"},
		{[]string{"format", ""}, "no name"},
	} {
		_, err := parseCSVHeader(tc.header)
		if (tc.err == "") != (err == nil) || err != nil && (!strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrRegister)) {
			t.Errorf("%v: %v", tc.header, err)
		}
	}
	l, _ := parseCSVHeader([]string{"format", "holder.name.en", "admins.1.name", "admins.0.name", "registerStatus"})
	obj, status, fe := l.object([]string{"hk/x@1", "Chan", "B", "A", "revoked"})
	if fe != nil || status != "revoked" || string(obj) != `{"admins":[{"name":"A"},{"name":"B"}],"format":"hk/x@1","holder":{"name":{"en":"Chan"}}}` {
		t.Fatalf("%s %q %v", obj, status, fe)
	}
	if _, _, fe := l.object([]string{"hk/x@1", "", "B", "", ""}); fe == nil || fe.Rule != "csv-array" {
		t.Fatalf("gap in an array: %v", fe)
	}
}

// TestRegisterRows: line numbers, blank lines, malformed and over-long rows,
// a missing envelope completed from the record, registerStatus.
func TestRegisterRows(t *testing.T) {
	w := newWorld(t)
	m := nativeMap(t, w.sz[w.hist[w.order[0]].lastRecord])
	delete(m, "事件编号")
	delete(m, "发生时间")
	delete(m, "操作")
	m[StatusKey] = "suspended"
	bare := nativeJSON(t, m)
	long := `{"format":"` + strings.Repeat("x", maxLine) + `"}`
	reg := "\n" + string(bare) + "\n  \n" + `{"format":1}` + "\n" + long + "\n[]\n"
	res := mustReconcile(t, w.tl, "shenzhen", []byte(reg), nil)
	var got []string
	for _, d := range res.byClass(InvalidRow) {
		got = append(got, fmt.Sprintf("%d:%s:%s", d.Line, d.Field, d.Rule))
	}
	want := []string{"4:format:type", "5::max-bytes", "6::json"}
	if !slices.Equal(got, want) {
		t.Fatalf("invalid rows %v, want %v\n%s", got, want, res.raw)
	}
	// The bare row: the license is in the register (suspended, line 2),
	// and its record, read without an envelope, is the ledger's.
	var st []Difference
	for _, d := range res.diffs {
		if d.Key == w.order[0] {
			st = append(st, d)
		}
	}
	h := w.hist[w.order[0]]
	if h.status == schemas.StatusSuspended {
		if len(st) != 0 {
			t.Fatalf("%+v", st)
		}
	} else if len(st) != 1 || st[0].Class != StatusDiffers || st[0].Register.Status != schemas.StatusSuspended || st[0].Line != 2 {
		t.Fatalf("bare row: %+v", st)
	}
	if res.sum.Rows != 4 {
		t.Fatalf("rows %d, want 4 (blank lines are not rows)", res.sum.Rows)
	}
}

// TestRegisterFromAPipe: a register that cannot be read twice (a pipe) is
// spooled, and rows that need normalising are read back from the spool.
func TestRegisterFromAPipe(t *testing.T) {
	w := newWorld(t)
	in := inject(t, w)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() { pw.Write(jsonl(in.rows)); pw.Close() }()
	res := mustReconcile(t, w.tl, "shenzhen", nil, func(c *Config) { c.Register = pr })
	checkInjected(t, res, in)
}

// TestBlockLogMatchesWal reads a log of many segments through OpenBlockLog
// (wal.Reader) and checks spans, picks and the refusals reconcile adds.
func TestBlockLogMatchesWal(t *testing.T) {
	dir := t.TempDir()
	l, err := wal.Open(dir, wal.Options{NoSync: true, SegmentSize: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	var want [][]byte
	for i := range 50 {
		rec := bytes.Repeat([]byte{byte(i)}, 100+i*7)
		want = append(want, rec)
		if _, err := l.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	if ents, _ := os.ReadDir(dir); len(ents) < 10 {
		t.Fatalf("%d segments, want at least 10", len(ents))
	}
	src, err := OpenBlockLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if h, err := src.Height(ctx); h != 50 || err != nil {
		t.Fatalf("height %d, %v", h, err)
	}
	for _, span := range [][2]uint64{{1, 50}, {7, 23}, {50, 50}, {49, 99}} {
		var got []uint64
		err := src.Records(ctx, span[0], span[1], nil, func(idx uint64, p []byte) error {
			if !bytes.Equal(p, want[idx-1]) {
				return fmt.Errorf("record %d differs", idx)
			}
			got = append(got, idx)
			return nil
		})
		if err != nil || len(got) == 0 || got[0] != span[0] || got[len(got)-1] != min(span[1], 50) || len(got) != int(min(span[1], 50)-span[0]+1) {
			t.Fatalf("%v: %v %v", span, got, err)
		}
	}
	var picked []uint64
	src.Records(ctx, 1, 50, func(h uint64) bool { return h%10 == 3 }, func(idx uint64, _ []byte) error { picked = append(picked, idx); return nil })
	if !slices.Equal(picked, []uint64{3, 13, 23, 33, 43}) {
		t.Fatalf("picked %v", picked)
	}
	if w := src.(interface{ Warnings() []string }).Warnings(); len(w) != 0 {
		t.Fatalf("warnings on a whole log: %v", w)
	}
	// A cancelled context stops the read.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := src.Records(cctx, 1, 50, nil, func(uint64, []byte) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	// An interrupted truncation is refused, not finished.
	end := filepath.Join(dir, "00000000000000000001.END")
	os.WriteFile(end, nil, 0o644)
	if _, err := OpenBlockLog(dir); !errors.Is(err, ErrTruncating) || !strings.Contains(err.Error(), "start the node") {
		t.Fatalf("truncation files: %v", err)
	}
	if _, err := os.Stat(end); err != nil {
		t.Fatalf("truncation files touched: %v", err)
	}
	os.Remove(end)
	// A block log must start at block 1.
	l, err = wal.Open(dir, wal.Options{NoSync: true, SegmentSize: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateFront(5); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := OpenBlockLog(dir); !errors.Is(err, blocklog.ErrBrokenChain) {
		t.Fatalf("log starting at 5: %v", err)
	}
}

// TestBlockLogDurableDamage: damage in the last segment that cannot be a
// torn write (a later record proves it was fsynced, or a whole record fails
// its CRC, the last one included) is an error, what the node would refuse on
// restart; a tail cut short by a crash is a torn tail to read up to.
func TestBlockLogDurableDamage(t *testing.T) {
	dir := t.TempDir()
	l, err := wal.Open(dir, wal.Options{}) // each Append fsynced
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if _, err := l.Append(bytes.Repeat([]byte{byte(i + 1)}, 100)); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	seg := filepath.Join(dir, "00000000000000000001")
	clean, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	entry := len(clean) / 4
	flip := func(at int) {
		b := bytes.Clone(clean)
		b[at] ^= 0x08
		os.WriteFile(seg, b, 0o640)
	}
	for _, rec := range []int{2, 4} {
		flip((rec-1)*entry + entry/2)
		var ce *wal.CorruptError
		if _, err := OpenBlockLog(dir); !errors.As(err, &ce) || ce.Index != uint64(rec) {
			t.Fatalf("damaged record %d of 4: %v, want a corrupt record %d", rec, err, rec)
		}
	}
	os.WriteFile(seg, clean[:len(clean)-7], 0o640)
	src, err := OpenBlockLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	w := src.(interface{ Warnings() []string }).Warnings()
	if h, _ := src.Height(context.Background()); h != 3 || len(w) != 1 || !strings.Contains(w[0], "torn write at height 4") {
		t.Fatalf("torn last record: height %d, warnings %v", h, w)
	}
}

func TestProgress(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := &Meter{}
	var out bytes.Buffer
	p := &Progress{Meter: m, W: &out, Every: 5 * time.Second, Now: func() time.Time { return now }}
	m.phase("register", "rows", 0, 1000)
	m.mu.Lock()
	m.s.Started = now
	m.mu.Unlock()
	now = now.Add(2 * time.Second)
	m.set(100_000, 250)
	p.Tick()
	now = now.Add(time.Second)
	p.Tick() // within Every: no line
	now = now.Add(5 * time.Second)
	m.set(300_000, 750)
	p.Tick()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		"reconcile: register 100,000 rows, 50,000 rows/s, 25%, ETA 0:06",
		"reconcile: register 300,000 rows, 37,500 rows/s, 75%, ETA 0:03",
	}
	if !slices.Equal(lines, want) {
		t.Fatalf("log lines:\n%s", out.String())
	}

	out.Reset()
	p = &Progress{Meter: m, W: &out, Terminal: true, Now: func() time.Time { return now }}
	p.Tick()
	m.phase("compare", "licenses", 0, 0)
	p.Tick()
	p.Finish()
	got := out.String()
	if !strings.HasPrefix(got, "\rregister [==================      ] 300,000 rows") || !strings.Contains(got, "\n\rcompare 0 licenses") || !strings.HasSuffix(got, "\n") {
		t.Fatalf("terminal: %q", got)
	}
}

func TestOrderedStopsOnError(t *testing.T) {
	boom := errors.New("boom")
	var seen []int
	err := ordered(context.Background(), 3, func(ctx context.Context, emit func(int) error) error {
		for i := range 1000 {
			if err := emit(i); err != nil {
				return err
			}
		}
		return nil
	}, func(i int) int { return i * 2 }, func(o int) error {
		seen = append(seen, o)
		if o == 20 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || len(seen) != 11 || seen[10] != 20 {
		t.Fatalf("%v %v", err, seen)
	}
	for i, v := range seen {
		if v != 2*i {
			t.Fatalf("out of order: %v", seen)
		}
	}
}
