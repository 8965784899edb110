package reconcile

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

// TestRules3WithTheOwnersSalts: on a chain of rules version 3 the ledger
// holds the holders' names and identity numbers only as salted digests
// (issue 15 §1); the city reconciles its register with its own store of
// disclosures. Without the store the run says so instead of reporting
// every record as different; with it the register matches, and a name
// changed in the register is reported as that field's difference, both
// values in the city's own plaintext.
func TestRules3WithTheOwnersSalts(t *testing.T) {
	cons, err := keys.NewConsortiumRules("gba-test", schemas.CityTokens(), testOrderers, keys.Schemes{City: keys.Ed25519, Orderer: keys.Ed25519}, keys.MaxRules, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	evs := sample(t, "shenzhen", schemas.KindCertificate, 40, 3)
	pubs := natives("shenzhen", evs)
	for i := range pubs {
		pubs[i].redact = true
	}
	tl := buildLedger(t, cons, pubs[:20], pubs[20:])
	for _, r := range tl.recs {
		blk, err := block.Decode(r.BlockData)
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range blk.Txs() {
			if tx.Result != block.OK {
				t.Fatalf("block %d: a redacted transaction sealed %s", r.Header.Height, tx.Result)
			}
		}
	}
	withStore := func(c *Config) { c.Disclosures = tl.disc }

	if _, err := reconcile(t, tl, "shenzhen", jsonl(evs), nil); !errors.Is(err, ErrDigests) {
		t.Fatalf("without the store: %v, want ErrDigests", err)
	}

	res := mustReconcile(t, tl, "shenzhen", jsonl(evs), withStore)
	if res.sum.Differences.Total != 0 || res.sum.Matched == 0 || res.sum.Matched != res.sum.RegisterLicenses {
		t.Fatalf("with the owner's store: %+v\n%s", res.sum, res.raw)
	}

	// The holder's name of the last event's license changed in the
	// register (the record in force is its last full record).
	hist, _ := histories(t, schemas.CN, evs)
	var h *licenseHistory
	for _, x := range hist {
		if h == nil || x.lastRecord > h.lastRecord {
			h = x
		}
	}
	changed := append([][]byte(nil), evs...)
	m := nativeMap(t, evs[h.lastRecord])
	m["姓名"] = "李四"
	changed[h.lastRecord] = nativeJSON(t, m)
	res = mustReconcile(t, tl, "shenzhen", jsonl(changed), withStore)
	diffs := res.byClass(FieldsDiffer)
	if len(diffs) != 1 || diffs[0].Key != h.key {
		t.Fatalf("differences %+v, want the fields of %s", res.diffs, h.key)
	}
	found := false
	for _, f := range diffs[0].Fields {
		if strings.Contains(string(f.Register), "李四") && len(f.Ledger) > 0 && !strings.Contains(string(f.Ledger), "_sd") {
			found = true
		}
	}
	if !found {
		t.Fatalf("the changed name is not a field difference in plaintext: %+v", diffs[0].Fields)
	}

	// A store that lacks one of the city's records is refused, naming it.
	partial := storeT{}
	for id, r := range tl.disc {
		partial[id] = r
	}
	for id, r := range partial {
		if len(r.items) > 0 { // a record's, not a status change's
			delete(partial, id)
			break
		}
	}
	if _, err := reconcile(t, tl, "shenzhen", jsonl(evs), func(c *Config) { c.Disclosures = partial }); !errors.Is(err, ErrDigests) {
		t.Fatalf("a store without one record: %v, want ErrDigests", err)
	}
}
