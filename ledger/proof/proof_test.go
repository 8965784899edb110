package proof_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/baybus/baybus/ledger/block"
	baybusproof "github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/ledger/proof/prooftest"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

func build(t testing.TB) *prooftest.Chain {
	t.Helper()
	return prooftest.Build(t, t.TempDir())
}

// clone deep-copies a bundle through its JSON form.
func clone(t testing.TB, b *baybusproof.Bundle) *baybusproof.Bundle {
	t.Helper()
	raw, err := baybusproof.EncodeJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := baybusproof.DecodeJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mustVerify(t *testing.T, trust *keys.Bundle, b *baybusproof.Bundle) *baybusproof.Verdict {
	t.Helper()
	v, err := baybusproof.Verify(trust, b)
	if err != nil {
		t.Fatalf("%s: %v", b.Key, err)
	}
	return v
}

// header returns the decoded header at height h of a bundle.
func header(t *testing.T, b *baybusproof.Bundle, h uint64) *block.Header {
	t.Helper()
	for _, s := range b.Headers {
		hd, err := s.Header()
		if err != nil {
			t.Fatal(err)
		}
		if hd.Height == h {
			return hd
		}
	}
	t.Fatalf("no header %d", h)
	return nil
}

// TestCommitProofs verifies every bundle made on commit with the trust
// bundle alone, and checks its inclusion paths with two independent
// RFC 6962 verifiers.
func TestCommitProofs(t *testing.T) {
	c := build(t)
	n := 0
	for hi, bundles := range c.Committed {
		h := uint64(hi + 1)
		if want := int(c.Records[hi].Header.TxCount); len(bundles) != want {
			t.Fatalf("block %d: %d bundles for %d OK transactions", h, len(bundles), want)
		}
		for _, b := range bundles {
			v := mustVerify(t, c.Trust, b)
			if v.Height != h || v.TxHeight != h || v.BlockHash != c.Records[hi].Header.Hash() {
				t.Errorf("%s: verdict at %d/%d, want block %d", b.Key, v.Height, v.TxHeight, h)
			}
			if v.Key != b.Key || v.Tx.LicenseKey() != b.Key {
				t.Errorf("verdict key %s, bundle %s", v.Key, b.Key)
			}
			hd := header(t, b, h)
			checkIndependently(t, b.Tx.ID, b.Tx.Index, b.Tx.Size, b.Tx.Path, hd.TxRoot)
			checkIndependently(t, b.Tx.ID, b.Tx.Batch.Index, uint64(b.Tx.Batch.Count), b.Tx.Batch.Path, b.Tx.Batch.Root)
			n++
		}
	}
	if n != 17 {
		t.Errorf("%d bundles, want 17", n)
	}
	// In parallel, the same bundles.
	for hi, bundles := range c.Committed {
		if hi != len(c.Committed)-1 {
			continue // the state is at the last block only
		}
		rec := c.Records[hi]
		par, err := baybusproof.Builder{Workers: 4}.ForBlock(&rec.Header, &rec.QC, c.Blocks[hi], baybusproof.ProveAt(&rec.Header, c.State.ProveRoot))
		if err != nil {
			t.Fatal(err)
		}
		for i := range par {
			x, _ := par[i].MarshalBinary()
			y, _ := bundles[i].MarshalBinary()
			if !bytes.Equal(x, y) {
				t.Fatalf("parallel bundle %d differs", i)
			}
		}
	}
	// A state that moved on is refused, not proved against the wrong root.
	rec := c.Records[0]
	if _, err := baybusproof.ForBlock(&rec.Header, &rec.QC, c.Blocks[0], baybusproof.ProveAt(&rec.Header, c.State.ProveRoot)); !errors.Is(err, baybusproof.ErrStateMoved) {
		t.Fatalf("proof against a moved state: %v", err)
	}
}

func checkIndependently(t *testing.T, leaf baybusproof.Hash, index, size uint64, path []baybusproof.Hash, root [32]byte) {
	t.Helper()
	p := make([][]byte, len(path))
	rp := make(tlog.RecordProof, len(path))
	for i := range path {
		p[i] = path[i][:]
		rp[i] = tlog.Hash(path[i])
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, leaf[:], p, root[:]); err != nil {
		t.Errorf("transparency-dev/merkle rejects leaf %d of %d: %v", index, size, err)
	}
	if err := tlog.CheckRecord(rp, int64(size), tlog.Hash(root), int64(index), tlog.Hash(leaf)); err != nil {
		t.Errorf("tlog rejects leaf %d of %d: %v", index, size, err)
	}
}

// TestEveryKindAndJurisdiction: the nine issues of block 1 verify offline,
// each showing its record, as valid, or as expired when the record's
// validity ended before the block's time (two sample approvals: the
// ledger recorded them valid, and no expire event was needed).
func TestEveryKindAndJurisdiction(t *testing.T) {
	c := build(t)
	expired := 0
	for _, j := range []string{"cn", "hk", "mo"} {
		for _, k := range schemas.Kinds {
			name := j + "-" + k.Short()
			t.Run(name, func(t *testing.T) {
				v := mustVerify(t, c.Trust, c.Find(t, 1, name))
				if v.Recorded != schemas.StatusValid || !v.LastChange || v.Record == nil || v.Record.Kind != k ||
					string(v.Record.Jurisdiction) != strings.ToUpper(j) || v.Height != 1 || v.Rules != 1 || v.Owner != "" {
					t.Errorf("verdict %+v", v)
				}
				want := schemas.StatusValid
				if to := v.Record.Record.ValidTo(); to != "" {
					if end, _ := schemas.ValidityEnd(to); !v.Time.Before(end) {
						want = schemas.StatusExpired
						expired++
					}
				}
				if v.Status != want || v.ValidTo != v.Record.Record.ValidTo() {
					t.Errorf("status %s (validity to %q at %v), want %s", v.Status, v.ValidTo, v.Time, want)
				}
			})
		}
	}
	if expired == 0 {
		t.Error("no sample record has an ended validity: the test checks less than it says")
	}
}

// TestRevokedLater: a license revoked at a later height. The proof made
// when it was issued still verifies as valid at that height; the fresh
// proof says revoked, with the record in force and both headers.
func TestRevokedLater(t *testing.T) {
	c := build(t)
	old := mustVerify(t, c.Trust, c.Find(t, 1, "cn-business"))
	if old.Status != schemas.StatusValid || old.Height != 1 {
		t.Fatalf("old proof: %s at %d, want valid at 1", old.Status, old.Height)
	}
	fresh, err := baybusproof.Latest(c, c.Keys["cn-business"])
	if err != nil {
		t.Fatal(err)
	}
	v := mustVerify(t, c.Trust, fresh)
	if v.Status != schemas.StatusRevoked || v.Height != c.Height() || v.TxHeight != 3 || v.Tx.Action != schemas.ActionRevoke || !v.LastChange {
		t.Fatalf("fresh verdict: %s at %d, tx %s at %d", v.Status, v.Height, v.Tx.Action, v.TxHeight)
	}
	if v.Record == nil || v.Record.Action != schemas.ActionIssue || fresh.Record.Height != 1 {
		t.Fatalf("fresh proof does not show the record in force")
	}
	if got := len(fresh.Headers); got != 3 {
		t.Fatalf("%d headers, want 3 (record's, last change's, latest)", got)
	}
	// A revoked license cannot be shown as valid: change the leaf.
	forged := clone(t, fresh)
	forged.State.Leaf.Status = schemas.StatusValid
	if _, err := baybusproof.Verify(c.Trust, forged); !errors.Is(err, baybusproof.ErrStateProof) {
		t.Fatalf("forged status: err %v, want ErrStateProof", err)
	}
}

// TestFresh: fresh proofs of every license give the status at the latest
// height.
func TestFresh(t *testing.T) {
	c := build(t)
	want := map[string]struct {
		status   schemas.Status
		txHeight uint64
		record   bool // a record part
		headers  int
	}{
		"cn-business":     {schemas.StatusRevoked, 3, true, 3},
		"cn-certificate":  {schemas.StatusValid, 1, false, 2},
		"hk-business":     {schemas.StatusValid, 4, true, 2},
		"mo-certificate":  {schemas.StatusExpired, 4, true, 2},
		"zhuhai-business": {schemas.StatusValid, 3, false, 2},
		"cn-extra":        {schemas.StatusSuspended, 2, true, 2},
	}
	for name, w := range want {
		t.Run(name, func(t *testing.T) {
			b, err := baybusproof.Latest(c, c.Keys[name])
			if err != nil {
				t.Fatal(err)
			}
			v := mustVerify(t, c.Trust, b)
			if v.Status != w.status || v.TxHeight != w.txHeight || v.Height != c.Height() || (b.Record != nil) != w.record ||
				len(b.Headers) != w.headers || !v.LastChange || v.Record == nil {
				t.Errorf("verdict %s at %d, tx at %d, record part %v, %d headers", v.Status, v.Height, v.TxHeight, b.Record != nil, len(b.Headers))
			}
		})
	}
	if _, err := baybusproof.Latest(c, "CN/NOPE"); !errors.Is(err, baybusproof.ErrNotFound) {
		t.Errorf("unknown license: %v", err)
	}
}

// TestSupersededInBlock: a license issued and suspended in one block; the
// issue's proof shows the status after the block and says it was not the
// last change.
func TestSupersededInBlock(t *testing.T) {
	c := build(t)
	b := c.Find(t, 2, "cn-extra")
	v := mustVerify(t, c.Trust, b)
	if v.Tx.Action != schemas.ActionIssue || v.LastChange || v.Status != schemas.StatusSuspended || v.Record == nil {
		t.Fatalf("verdict: %s, last change %v, status %s", v.Tx.Action, v.LastChange, v.Status)
	}
}

func TestEncodings(t *testing.T) {
	c := build(t)
	fresh, err := baybusproof.Latest(c, c.Keys["hk-business"])
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range append([]*baybusproof.Bundle{fresh}, c.Committed[0]...) {
		bin, err := b.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		js, err := baybusproof.EncodeJSON(b)
		if err != nil {
			t.Fatal(err)
		}
		fromBin, err := baybusproof.Decode(bin)
		if err != nil {
			t.Fatal(err)
		}
		fromJSON, err := baybusproof.Decode(js)
		if err != nil {
			t.Fatal(err)
		}
		bin2, _ := fromJSON.MarshalBinary()
		bin3, _ := fromBin.MarshalBinary()
		if !bytes.Equal(bin, bin2) || !bytes.Equal(bin, bin3) {
			t.Fatalf("%s: binary form differs after a round trip", b.Key)
		}
		// The JSON re-spelt by another tool (members re-ordered, escapes
		// changed) decodes to the same bundle.
		again, err := baybusproof.DecodeJSON(respell(t, js))
		if err != nil {
			t.Fatal(err)
		}
		if bin4, _ := again.MarshalBinary(); !bytes.Equal(bin, bin4) {
			t.Fatalf("%s: compact JSON decodes to another bundle", b.Key)
		}
		mustVerify(t, c.Trust, fromBin)
		mustVerify(t, c.Trust, fromJSON)
		if len(bin) >= len(js) {
			t.Errorf("binary %d bytes, JSON %d", len(bin), len(js))
		}
	}
	for _, bad := range []string{"", "{}", `{"v":2}`, "GBP1", "GBP1\x00", `[]`} {
		if _, err := baybusproof.Decode([]byte(bad)); !errors.Is(err, baybusproof.ErrFormat) || !errors.Is(err, baybusproof.ErrInvalid) {
			t.Errorf("Decode(%q) = %v, want ErrFormat", bad, err)
		}
	}
}

func respell(t *testing.T, js []byte) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(v) // sorted members, HTML escapes
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestImportGraph keeps the verifier small: no NATS, no pebble, no server
// code, nothing of the node.
func TestImportGraph(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/baybus/baybus/ledger/proof").CombinedOutput()
	if err != nil {
		t.Skipf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"nats-io", "cockroachdb", "baybus/ledger/orderer", "baybus/ledger/state\n", "baybus/internal/bus", "net/http", "SmartBFT"} {
			if strings.Contains(dep+"\n", banned) {
				t.Errorf("ledger/proof depends on %s", dep)
			}
		}
	}
}

// TestRulesV2Chain: the chain of rules version 2 seals what issue 14 asks:
// a cross-city revocation, a second issue and a bad check character are
// refused with their reasons, a handover moves the license, and the
// certificate whose validity ended in 2018 proves expired.
func TestRulesV2Chain(t *testing.T) {
	c := prooftest.Build2(t, t.TempDir())
	var got []string
	for _, blk := range c.Blocks[1:] {
		for _, tx := range blk.Txs() {
			got = append(got, tx.Result.String()+" "+tx.Result.Reason().String())
		}
	}
	want := []string{"rejected not_issuer", "rejected exists", "ok ", "invalid identifier", "ok ", "rejected not_issuer"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("results of blocks 2 and 3: %q, want %q", got, want)
	}
	for name, want := range map[string]struct {
		status, recorded schemas.Status
		owner, validTo   string
	}{
		"cn-business":    {schemas.StatusValid, schemas.StatusValid, "shenzhen", ""},
		"cn-moved":       {schemas.StatusSuspended, schemas.StatusSuspended, "guangzhou", ""},
		"hk-certificate": {schemas.StatusExpired, schemas.StatusValid, "hongkong", "2018-10-09"},
	} {
		fresh, err := baybusproof.Latest(c, c.Keys[name])
		if err != nil {
			t.Fatal(err)
		}
		v := mustVerify(t, c.Trust, fresh)
		if v.Status != want.status || v.Recorded != want.recorded || v.Owner != want.owner || v.Rules != 2 ||
			(want.validTo != "" && v.ValidTo != want.validTo) {
			t.Errorf("%s: %s (recorded %s) held by %q to %q, rules %d; want %+v", name, v.Status, v.Recorded, v.Owner, v.ValidTo, v.Rules, want)
		}
		if fresh.Status() != v.Status {
			t.Errorf("%s: Bundle.Status %s, verdict %s", name, fresh.Status(), v.Status)
		}
	}
	if key := c.Keys["hk-certificate"]; key != "HK/RGI-648009" {
		t.Fatalf("hk-certificate is %s", key)
	}
}
