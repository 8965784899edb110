package reconcile

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/gateway"
	"github.com/baybus/baybus/gateway/client"
	"github.com/baybus/baybus/internal/system"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
)

// gatewayBridges is what cmd/baybus gives the gateways: each
// jurisdiction's bridge.
func gatewayBridges(j schemas.Jurisdiction) gateway.Bridge { return bridge.For(j) }

// TestRepairTwiceOverTheBus runs a real system (four orderers, the
// gateways), publishes a Shenzhen history natively, and reconciles a
// register with injected differences over the bus, repairing through the
// gateway. The second run finds only what cannot be repaired and publishes
// nothing; a run against the stopped node's data directory agrees.
func TestRepairTwiceOverTheBus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a system")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	// Rules version 2 by name: on version 3 (the default) the records
	// hold personal fields as digests, and reconciling them needs the
	// city's disclosures (disclosed_test.go).
	sys, err := system.Start(ctx, system.Config{DataDir: dir, Listen: "127.0.0.1:0", NATSListen: "-", Orderers: 4, NoAuth: true,
		Rules: block.Rules2, Bridges: gatewayBridges, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			sys.Stop()
		}
	}()
	gw := client.New("http://"+sys.HTTPAddr, nil)
	evs := sample(t, "shenzhen", "", 120, 11)
	for start := 0; start < len(evs); start += 60 {
		var part []json.RawMessage
		for _, e := range evs[start:min(start+60, len(evs))] {
			part = append(part, e)
		}
		res, err := gw.Publish(ctx, "shenzhen", part, client.Options{Native: true, Wait: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Error != nil || r.Receipt.Status != "committed" {
				t.Fatalf("publish: %+v %+v", r.Receipt, r.Error)
			}
		}
	}

	// The register: the history, with differences.
	hist, order := histories(t, schemas.CN, evs)
	used := map[string]bool{}
	pick := func(ok func(h *licenseHistory) bool) *licenseHistory {
		for _, k := range order {
			if h := hist[k]; !used[k] && ok(h) {
				used[k] = true
				return h
			}
		}
		t.Fatal("no license fits")
		return nil
	}
	drop := map[int]bool{}
	edit := map[int][]byte{}
	var extra [][]byte
	var fields, suspended []string
	for range 2 {
		h := pick(func(h *licenseHistory) bool {
			return h.kind == schemas.KindBusiness && h.status != schemas.StatusRevoked
		})
		m := nativeMap(t, evs[h.lastRecord])
		m["住所"] = "广东省深圳市福田区福华三路88号" + h.key[len(h.key)-2:]
		edit[h.lastRecord] = nativeJSON(t, m)
		fields = append(fields, h.key)
	}
	for range 2 {
		h := pick(func(h *licenseHistory) bool { return h.status == schemas.StatusValid })
		m := nativeMap(t, evs[h.rows[0]])
		extra = append(extra, nativeJSON(t, map[string]any{"format": m["format"], "事件编号": "register-suspend-" + h.key, "操作": "暂停",
			"发生时间": "2024-07-01T10:00:00+08:00", "原因": "未按规定公示年度报告", idKey(m): m[idKey(m)]}))
		suspended = append(suspended, h.key)
	}
	revoked := pick(func(h *licenseHistory) bool { return h.status == schemas.StatusRevoked })
	drop[revoked.rows[len(revoked.rows)-1]] = true
	var issued []string
	for _, e := range sample(t, "shenzhen", schemas.KindBusiness, 30, 12) {
		m := nativeMap(t, e)
		key := "CN/" + m["统一社会信用代码"].(string)
		if m["操作"] == "核发" && hist[key] == nil && len(issued) < 3 {
			extra = append(extra, e)
			issued = append(issued, key)
		}
	}
	var rows [][]byte
	for i, e := range evs {
		switch {
		case drop[i]:
		case edit[i] != nil:
			rows = append(rows, edit[i])
		default:
			rows = append(rows, e)
		}
	}
	register := jsonl(append(rows, extra...))

	nc, err := sys.Bus.Connect(bus.IdentityName(bus.RoleService, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	run := func(src Source, repair bool) (*Summary, []Difference) {
		t.Helper()
		var out bytes.Buffer
		cfg := Config{City: city(t, "shenzhen"), Source: src, Trust: sys.Consortium.Bundle, Register: bytes.NewReader(register),
			Differences: &out, TempDir: t.TempDir()}
		if repair {
			cfg.Repair = gatewayPublisher{gw}
		}
		sum, err := Run(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var diffs []Difference
		for _, l := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
			if len(l) > 0 {
				var d Difference
				if err := json.Unmarshal(l, &d); err != nil {
					t.Fatal(err)
				}
				diffs = append(diffs, d)
			}
		}
		return sum, diffs
	}
	keysOf := func(diffs []Difference, c Class) []string {
		var out []string
		for _, d := range diffs {
			if d.Class == c {
				out = append(out, d.Key)
			}
		}
		return out
	}
	sortedEq := func(a, b []string) bool {
		a, b = slices.Clone(a), slices.Clone(b)
		slices.Sort(a)
		slices.Sort(b)
		return slices.Equal(a, b)
	}
	busSrc := func() Source {
		src, err := NewBusSource(BusConfig{Conn: nc, Trust: sys.Consortium.Bundle})
		if err != nil {
			t.Fatal(err)
		}
		return src
	}

	sum, diffs := run(busSrc(), true)
	if !sortedEq(keysOf(diffs, RegisterOnly), issued) || !sortedEq(keysOf(diffs, FieldsDiffer), fields) ||
		!sortedEq(keysOf(diffs, StatusDiffers), append(slices.Clone(suspended), revoked.key)) || sum.Differences.Total != 8 {
		t.Fatalf("first run: %+v\n%+v", sum.Differences, diffs)
	}
	if r := sum.Repair; r == nil || !r.Ran || r.Planned != 7 || r.Committed != 7 || r.Refused != 0 {
		t.Fatalf("first repair: %+v", sum.Repair)
	}
	if sum.FastRows == 0 {
		t.Fatalf("no row matched by native hash: %+v", sum)
	}

	height := sys.Nodes[0].Height()
	sum, diffs = run(busSrc(), true)
	if sum.Differences.Total != 1 || len(diffs) != 1 || diffs[0].Key != revoked.key || diffs[0].Unrepairable == "" {
		t.Fatalf("second run: %+v\n%+v", sum.Differences, diffs)
	}
	if r := sum.Repair; r.Planned != 0 || r.Committed+r.Accepted+r.Duplicates+r.Refused != 0 {
		t.Fatalf("second repair published: %+v", r)
	}
	if got := sys.Nodes[0].Height(); got != height {
		t.Fatalf("the second run sealed blocks: height %d, was %d", got, height)
	}

	// The stopped node's data directory, read in place, says the same.
	sys.Stop()
	stopped = true
	blocks, err := BlocksDir(dir, "", sys.Consortium.Bundle)
	if err != nil || blocks != filepath.Join(dir, "orderers", "hongkong", "blocks") {
		t.Fatalf("blocks dir %q: %v", blocks, err)
	}
	src, err := OpenBlockLog(blocks)
	if err != nil {
		t.Fatal(err)
	}
	sum, diffs = run(src, false)
	if sum.Differences.Total != 1 || diffs[0].Key != revoked.key || sum.Height != height {
		t.Fatalf("offline: %+v at %d (want %d)\n%+v", sum.Differences, sum.Height, height, diffs)
	}
}

// gatewayPublisher is the Publisher baybus reconcile builds over the
// gateway's HTTP client (cmd/baybus/reconcilecmd.go), here for the test.
type gatewayPublisher struct{ c *client.Client }

func (g gatewayPublisher) Publish(ctx context.Context, city string, native []json.RawMessage) ([]Published, error) {
	res, err := g.c.Publish(ctx, city, native, client.Options{Native: true, Wait: true})
	if err != nil {
		return nil, err
	}
	out := make([]Published, len(res))
	for i, r := range res {
		switch {
		case r.Error != nil:
			out[i].Err = r.Error.Code + ": " + r.Error.Message
		case r.Receipt != nil:
			out[i] = Published{TxID: r.TxID, Status: r.Status, Duplicate: r.Duplicate}
		}
	}
	return out, nil
}
