package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/baybus/baybus/internal/natsserver"
	"github.com/baybus/baybus/internal/natsserver/natstest"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/blocklog"
	"github.com/baybus/baybus/ledger/licenses"
	"github.com/baybus/baybus/ledger/node"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/ledger/proof/prooftest"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/consortium"
	"github.com/baybus/baybus/schemas/keys"
)

// vectors is ledger/proof's golden vectors directory.
var vectors = filepath.Join("..", "..", "ledger", "proof", "testdata")

func vec(name string) string { return filepath.Join(vectors, name) }

// at is the time the verify tests judge at: a day after the test chains'
// blocks, so that no test depends on the clock.
const at = "2026-01-02T00:00:00Z"

func TestVerifyCmd(t *testing.T) {
	trust := vec("trust.json")
	valid := vec("valid/commit-1-hk-business-issue.json")
	binary, _ := os.ReadFile(vec("valid/commit-1-mo-business-issue.bin"))
	trust2 := vec("v2/trust.json")
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  []string // substrings of stdout
	}{
		{"valid", "", []string{"--trust", trust, valid}, 0, []string{"proof valid", "is VALID at height 1", "record (hk-render@1)",
			"as of 2026-01-01T00:00:01Z: the proof is 24h0m0s old", "valid to 2026-09-09"}},
		{"valid binary from stdin", string(binary), []string{"--trust", trust, "-"}, 0, []string{"is VALID at height 1"}},
		{"rendered in another jurisdiction", "", []string{"--trust", trust, "--render", "cn", valid}, 0, []string{"record (cn-render@1)"}},
		{"old proof of a license revoked later", "", []string{"--trust", trust, vec("valid/commit-1-cn-business-issue.json")}, 0, []string{"is VALID at height 1"}},
		{"fresh proof: revoked", "", []string{"--trust", trust, vec("valid/fresh-cn-business.json")}, 2, []string{"is REVOKED at height 4", "last change: business_registration revoke by shenzhen"}},
		{"fresh proof: expired", "", []string{"--trust", trust, vec("valid/fresh-mo-certificate.bin")}, 2, []string{"is EXPIRED at height 4"}},
		{"expired by its validity, with no event", "", []string{"--trust", trust, vec("valid/commit-1-hk-approval-issue.json")}, 2,
			[]string{"is EXPIRED at height 1", "recorded valid; expired with the end of its validity on 2024-10-24"}},
		{"valid at its height, its validity ended since", "", []string{"--trust", trust, "--at", "2026-09-10T00:00:00+08:00", valid}, 2,
			[]string{"is VALID at height 1", "now EXPIRED: its validity ended on 2026-09-09"}},
		{"the last second of its validity", "", []string{"--trust", trust, "--at", "2026-09-09T23:59:59+08:00", valid}, 0, []string{"is VALID at height 1"}},
		{"HK/RGI-648009, valid 2013-10-10 to 2018-10-09", "", []string{"--trust", trust2, vec("v2/valid/fresh-hk-certificate.json")}, 2,
			[]string{"HK/RGI-648009 is EXPIRED at height 3", "held by hongkong", "expired with the end of its validity on 2018-10-09"}},
		{"handed over", "", []string{"--trust", trust2, vec("v2/valid/fresh-cn-moved.json")}, 2,
			[]string{"is SUSPENDED at height 3", "held by guangzhou", "suspend by guangzhou"}},
		{"a rules 1 proof under a rules 2 trust bundle", "", []string{"--trust", trust2, valid}, 1, []string{"INVALID: header check failed"}},
		{"younger than --max-age", "", []string{"--trust", trust, "--max-age", "48h", valid}, 0, []string{"is VALID"}},
		{"older than --max-age", "", []string{"--trust", trust, "--max-age", "1h", valid}, 2,
			[]string{"is VALID", "TOO OLD: the proof is 24h0m0s old, more than --max-age 1h0m0s"}},
		{"record changed", "", []string{"--trust", trust, vec("invalid/record-changed-by-one-byte.json")}, 1, []string{"INVALID: record check failed"}},
		{"below quorum", "", []string{"--trust", trust, vec("invalid/certificate-below-quorum.json")}, 1, []string{"INVALID: quorum check failed"}},
		{"quorum certified a validity end that is not the record's", "", []string{"--trust", trust2,
			vec("v2/invalid/quorum-certified-a-validity-end-that-is-not-the-record-s.json")}, 1, []string{"INVALID: state-proof check failed"}},
		{"fork of a header trusted by an earlier proof", "", []string{"--trust", trust, vec("valid/commit-1-cn-business-issue.json"), vec("invalid/fork-of-a-trusted-header.json")}, 1, []string{"is VALID", "INVALID: fork check failed"}},
		{"valid and revoked", "", []string{"--trust", trust, valid, vec("valid/fresh-cn-business.json")}, 2, []string{"is VALID", "is REVOKED"}},
		{"not a proof", "hello", []string{"--trust", trust, "-"}, 1, []string{"INVALID: format check failed"}},
		{"missing file", "", []string{"--trust", trust, "/nonexistent/proof.json"}, 3, nil},
		{"no trust bundle", "", []string{valid}, 3, nil},
		{"no proof", "", []string{"--trust", trust}, 3, nil},
		{"bad flag", "", []string{"--trust", trust, "--bogus", valid}, 3, nil},
		{"bad render", "", []string{"--trust", trust, "--render", "xx", valid}, 3, nil},
		{"negative --max-age", "", []string{"--trust", trust, "--max-age", "-1h", valid}, 3, nil},
		{"bad --at", "", []string{"--trust", trust, "--at", "tomorrow", valid}, 3, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if !slices.Contains(args, "--at") {
				args = append([]string{"--at", at}, args...)
			}
			out, errOut, code := runCmd(t, newVerifyCmd(), tc.stdin, args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
		})
	}

	// --json: one line per proof, the rejection naming its check.
	out, _, code := runCmd(t, newVerifyCmd(), "", "--at", at, "--trust", trust, "--json", valid, vec("invalid/tx-path-changed.json"))
	lines := outLines(out)
	if code != 1 || len(lines) != 2 {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	var ok verdictLine
	var bad rejectLine
	if err := json.Unmarshal([]byte(lines[0]), &ok); err != nil || ok.Status != schemas.StatusValid || ok.StatusNow != schemas.StatusValid ||
		ok.Rendering == nil || ok.Height != 1 || ok.AgeSeconds != 86399 || ok.ValidTo != "2026-09-09" || ok.Rules != 1 ||
		!ok.Time.Equal(time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)) {
		t.Errorf("line 1 %s (%v)", lines[0], err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &bad); err != nil || bad.Check != "tx-path" || bad.Valid {
		t.Errorf("line 2 %s (%v)", lines[1], err)
	}
}

func TestProofAndLicensesCmds(t *testing.T) {
	c, dir := prooftest.BuildDataDir(t)
	key := c.Keys["cn-business"]

	out, errOut, code := runCmd(t, newProofCmd(), "", "--data", dir, "--license", strings.ToLower(key[:2])+key[2:])
	if code != 0 || !strings.Contains(errOut, "revoked at height 4") {
		t.Fatalf("proof: exit %d\n%s", code, errOut)
	}
	b, err := proof.DecodeJSON([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := proof.Verify(c.Trust, b); err != nil || v.Status != schemas.StatusRevoked {
		t.Fatalf("fresh proof: %v %v", v, err)
	}
	bin := filepath.Join(t.TempDir(), "p.bin")
	if _, errOut, code := runCmd(t, newProofCmd(), "", "--data", dir, "--license", c.Keys["hk-business"], "--format", "binary", "--out", bin, "--orderer", "hongkong"); code != 0 {
		t.Fatalf("proof --format binary: exit %d\n%s", code, errOut)
	}
	if out, _, code := runCmd(t, newVerifyCmd(), "", "--at", at, "--trust", filepath.Join(dir, "trust.json"), bin); code != 0 || !strings.Contains(out, "is VALID at height 4") {
		t.Fatalf("verify of the fresh binary proof: exit %d\n%s", code, out)
	}
	if _, _, code := runCmd(t, newProofCmd(), "", "--data", dir, "--license", "CN/NOSUCH"); code != 1 {
		t.Errorf("unknown license: exit %d, want 1", code)
	}
	if _, _, code := runCmd(t, newProofCmd(), "", "--data", t.TempDir(), "--license", key); code != 2 {
		t.Errorf("no ledger: exit %d, want 2", code)
	}

	for _, tc := range []struct {
		args []string
		want []string // license names, in key order is checked separately
	}{
		{nil, []string{"cn-business", "cn-certificate", "cn-approval", "hk-business", "hk-certificate", "hk-approval",
			"mo-business", "mo-certificate", "mo-approval", "zhuhai-business", "cn-extra"}},
		{[]string{"--city", "hk"}, []string{"hk-business", "hk-certificate", "hk-approval"}},
		{[]string{"--city", "zhuhai"}, []string{"zhuhai-business"}},
		{[]string{"--city", "shenzhen"}, []string{"cn-business", "cn-certificate", "cn-approval", "cn-extra"}},
		{[]string{"--city", "macao", "--limit", "2"}, []string{"mo-business", "mo-certificate", "mo-approval"}},
	} {
		out, errOut, code := runCmd(t, newLicensesCmd(), "", append([]string{"--data", dir}, tc.args...)...)
		if code != 0 {
			t.Fatalf("licenses %v: exit %d\n%s", tc.args, code, errOut)
		}
		lines := outLines(out)
		wantN := len(tc.want)
		if len(tc.args) == 4 {
			wantN = 2 // --limit
		}
		if len(lines) != wantN {
			t.Fatalf("licenses %v: %d lines, want %d:\n%s", tc.args, len(lines), wantN, out)
		}
		keys := map[string]bool{}
		for _, n := range tc.want {
			keys[c.Keys[n]] = true
		}
		prev := ""
		for _, l := range lines {
			f := strings.Fields(l)
			if len(f) != 5 || !keys[f[0]] || f[0] <= prev || f[3] != "-" { // rules 1: no holder in the state
				t.Fatalf("licenses %v: line %q", tc.args, l)
			}
			prev = f[0]
		}
	}
	out, _, _ = runCmd(t, newLicensesCmd(), "", "--data", dir, "--city", "CN")
	if !strings.Contains(out, key+" revoked 3 - -\n") || !strings.Contains(out, c.Keys["cn-extra"]+" suspended 2 - -\n") {
		t.Errorf("statuses:\n%s", out)
	}
	if _, _, code := runCmd(t, newLicensesCmd(), "", "--data", dir, "--city", "atlantis"); code != 2 {
		t.Errorf("unknown city: exit %d", code)
	}
	if _, _, code := runCmd(t, newLicensesCmd(), "", "--data", dir, "--at", "soon"); code != 2 {
		t.Errorf("bad --at: exit %d", code)
	}
}

// TestLicensesCmdRules2: on a chain of rules version 2 the list shows the
// holder (the city a license was handed over to), the validity, and a
// status that is expired once the validity ended, with no event; --city
// selects by holder.
func TestLicensesCmdRules2(t *testing.T) {
	c, dir := prooftest.BuildDataDir2(t)
	out, errOut, code := runCmd(t, newLicensesCmd(), "", "--data", dir, "--at", at)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	for _, want := range []string{
		"HK/RGI-648009 expired 1 hongkong 2018-10-09\n",
		c.Keys["cn-moved"] + " suspended 3 guangzhou -\n",
		c.Keys["cn-business"] + " valid 1 shenzhen -\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("licenses lacks %q:\n%s", want, out)
		}
	}
	for city, want := range map[string][]string{"guangzhou": {"cn-moved"}, "shenzhen": {"cn-business"}, "zhuhai": nil} {
		out, _, code := runCmd(t, newLicensesCmd(), "", "--data", dir, "--city", city)
		lines := strings.Fields(strings.ReplaceAll(out, " ", "_"))
		if code != 0 || len(lines) != len(want) {
			t.Fatalf("--city %s: exit %d\n%s", city, code, out)
		}
		for i, n := range want {
			if !strings.HasPrefix(lines[i], c.Keys[n]+"_") {
				t.Errorf("--city %s: line %q, want %s", city, lines[i], n)
			}
		}
	}
}

// TestSubscribeCmd publishes the test chain's proofs on a real NATS server
// and follows them with subscribe as a named reader (keys add-reader):
// verified proofs as JSON lines, resumed across runs, a forged proof
// reported on stderr, and proofs outside the reader's grants refused, by
// subscribe and by the bus.
func TestSubscribeCmd(t *testing.T) {
	c, dir := prooftest.BuildDataDir(t)
	ids, err := bus.NewIdentities(schemas.CityTokens(), prooftest.Orderers)
	if err != nil {
		t.Fatal(err)
	}
	if err := ids.Write(dir); err != nil {
		t.Fatal(err)
	}
	for name, grants := range map[string]string{"hk-bank": "CN.*,HK.business", "cn-court": "CN.*.personal"} {
		if out, err := runBaybus(t, "keys", "add-reader", "--dir", dir, "--name", name, "--read", grants); err != nil {
			t.Fatalf("add-reader: %v\n%s", err, out)
		}
	}
	trust, err := keys.LoadBundle(filepath.Join(dir, keys.TrustFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"hk-bank", "cn-court"} {
		reader, _ := trust.Reader(name)
		seed, err := bus.ReadSeed(dir, "reader-"+name)
		if err != nil || seed == nil {
			t.Fatalf("reader seed: %v", err)
		}
		if err := ids.AddReader(reader.Name, reader.NATS, seed, reader.Grants); err != nil {
			t.Fatal(err)
		}
	}
	srv := natstest.Start(t, ids, natstest.Options{Listen: "127.0.0.1:-1", Streams: bus.StreamConfig{MemoryForProofs: true}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	onc, err := srv.Connect(bus.IdentityName(bus.RoleOrderer, "hongkong"))
	if err != nil {
		t.Fatal(err)
	}
	defer onc.Close()
	js, _ := jetstream.New(onc) // publishes a forged proof below
	sink, _ := bus.NewPublisher(onc)
	pub, err := node.NewProofPublisher(node.ProofPublisherConfig{Sink: sink, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	pub.Start(ctx)
	defer pub.Close()
	c.Replay(t, t.TempDir(), func(rec *blocklog.Record, blk *block.Block, st *licenses.State) { pub.Hook(st.ProveRoot)(rec, blk) })
	for pub.Stats().Published < 17 {
		if ctx.Err() != nil {
			t.Fatalf("publisher: %+v", pub.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}

	run := func(args ...string) ([]verdictLine, string, int) {
		t.Helper()
		out, errOut, code := runCmd(t, newSubscribeCmd(), "", append([]string{"--data", dir, "--nats", srv.ClientURL(), "--timeout", "20s"}, args...)...)
		var lines []verdictLine
		for _, l := range outLines(out) {
			if l == "" {
				continue
			}
			var v verdictLine
			if err := json.Unmarshal([]byte(l), &v); err != nil {
				t.Fatalf("line %q: %v", l, err)
			}
			lines = append(lines, v)
		}
		return lines, errOut, code
	}
	sub := func(args ...string) ([]verdictLine, string, int) {
		t.Helper()
		return run(append([]string{"--reader", "hk-bank"}, args...)...)
	}
	// CN: 8 proofs (shenzhen's and zhuhai's), of which 5 prove records
	// naming persons in plaintext (this chain is of rules version 1), on
	// the personal subjects this reader has no grant of (issue 14 §4).
	// One, then two: a restart resumes where the last run stopped.
	first, errOut, code := sub("--from", "cn", "--max", "1")
	if code != 0 || len(first) != 1 {
		t.Fatalf("first run: exit %d, %d lines\n%s", code, len(first), errOut)
	}
	second, errOut, code := sub("--from", "cn", "--max", "2")
	if code != 0 || len(second) != 2 {
		t.Fatalf("second run: exit %d, %d lines\n%s", code, len(second), errOut)
	}
	seen := map[proof.Hash]bool{}
	var prevSeq uint64
	for _, l := range append(first, second...) {
		if seen[l.TxID] || l.Seq <= prevSeq || !strings.HasPrefix(l.Source, "gba.proofs.CN.") || l.Rendering == nil ||
			l.Rendering.Jurisdiction != schemas.CN {
			t.Fatalf("line %+v (after seq %d)", l, prevSeq)
		}
		seen[l.TxID], prevSeq = true, l.Seq
	}
	if third, _, code := sub("--from", "cn", "--max", "1", "--timeout", "1s"); code != 1 || len(third) != 0 {
		t.Fatalf("nothing left: exit %d, %d lines", code, len(third))
	}
	if lines, errOut, code := sub("--from", "cn", "--personal"); code != 2 || len(lines) != 0 || !strings.Contains(errOut, "CN.*.personal") {
		t.Fatalf("--personal without a personal grant: exit %d, %d lines, stderr %q", code, len(lines), errOut)
	}
	// A reader with a personal grant follows those five.
	personal, errOut, code := run("--reader", "cn-court", "--from", "cn", "--personal", "--max", "5")
	if code != 0 || len(personal) != 5 {
		t.Fatalf("--personal: exit %d, %d lines\n%s", code, len(personal), errOut)
	}
	for _, l := range personal {
		if seen[l.TxID] || !strings.HasPrefix(l.Source, "gba.proofs.CN.") || !strings.HasSuffix(l.Source, ".personal") {
			t.Fatalf("personal line %+v", l)
		}
	}

	// A forged proof on HK's subject (the license shown revoked) is
	// reported, never printed.
	forged := *c.Find(t, 1, "hk-business")
	leaf := *forged.State.Leaf
	leaf.Status = schemas.StatusRevoked
	forged.State.Leaf = &leaf
	raw, _ := forged.MarshalBinary()
	if _, err := js.Publish(ctx, bus.ProofSubject("HK", "business"), raw); err != nil {
		t.Fatal(err)
	}
	hk, errOut, code := sub("--from", "hk", "--kind", "business", "--render", "mo", "--max", "4")
	if code != 0 || len(hk) != 3 {
		t.Fatalf("hk: exit %d, %d lines\n%s", code, len(hk), errOut)
	}
	for _, l := range hk {
		if l.Kind != schemas.KindBusiness || l.Rendering == nil || l.Rendering.Jurisdiction != schemas.MO {
			t.Errorf("line %+v", l)
		}
	}
	var rej rejectLine
	if err := json.Unmarshal([]byte(strings.SplitN(errOut, "\n", 2)[0]), &rej); err != nil || rej.Check != "state-proof" || rej.Valid {
		t.Fatalf("stderr %q (%v)", errOut, err)
	}

	if _, _, code := sub("--from", "xx"); code != 2 {
		t.Errorf("bad --from: exit %d", code)
	}

	// The same reader by its credentials alone; then outside its grants.
	creds := bus.SeedPath(dir, "reader-hk-bank")
	if _, errOut, code := run("--creds", creds, "--from", "hk", "--kind", "business", "--max", "1", "--timeout", "1s"); code != 1 {
		t.Errorf("by --creds, nothing left: exit %d\n%s", code, errOut)
	}
	for name, args := range map[string][]string{
		"another jurisdiction": {"--reader", "hk-bank", "--from", "mo"},
		"every HK kind":        {"--reader", "hk-bank", "--from", "hk"},
		"HK certificates":      {"--creds", creds, "--from", "hk", "--kind", "certificate"},
		"unknown reader":       {"--reader", "mo-gov", "--from", "cn"},
		"no reader":            {"--from", "cn"},
		"a city's creds":       {"--creds", bus.SeedPath(dir, "city-shenzhen"), "--from", "cn"},
		"creds of another":     {"--reader", "hk-bank", "--creds", bus.SeedPath(dir, "service"), "--from", "cn"},
	} {
		if lines, errOut, code := run(args...); code != 2 || len(lines) != 0 || errOut == "" {
			t.Errorf("%s: exit %d, %d lines, stderr %q; want 2, none, a reason", name, code, len(lines), errOut)
		}
	}

	// A trust bundle that claims more than the bus grants: subscribe's own
	// check passes, the bus refuses at once (no time-out).
	wider := filepath.Join(t.TempDir(), "trust.json")
	raw, _ = os.ReadFile(filepath.Join(dir, keys.TrustFile))
	if err := os.WriteFile(wider, []byte(strings.Replace(string(raw), `"HK.business"`, `"MO.*"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	lines, errOut, code := run("--reader", "hk-bank", "--trust", wider, "--from", "mo")
	if code != 2 || len(lines) != 0 || !strings.Contains(errOut, "refused") || !strings.Contains(errOut, "Permissions Violation") {
		t.Errorf("beyond the bus's grants: exit %d, %d lines, stderr %q", code, len(lines), errOut)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the refusal took %v", d)
	}
}

// TestVerifyChainOfBothRules: verify-chain replays a chain sealed under
// rules version 1 (made before rules versions existed) and one of rules
// version 2 with the rules each was sealed under.
func TestVerifyChainOfBothRules(t *testing.T) {
	for name, build := range map[string]func(testing.TB) (*prooftest.Chain, string){"rules 1": prooftest.BuildDataDir, "rules 2": prooftest.BuildDataDir2} {
		c, dir := build(t)
		out, errOut, code := execVerifyChain(t, "--data", dir)
		if code != 0 || !strings.Contains(out, fmt.Sprintf("height %d", c.Height())) {
			t.Errorf("%s: exit %d\n%s\n%s", name, code, out, errOut)
		}
	}
}

// TestSubscribeTLS: against a NATS server whose client port is TLS from
// the consortium CA, subscribe connects with the CA and the reader's
// client certificate (keys cert), and fails cleanly without the
// certificate.
func TestSubscribeTLS(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	if _, err := consortium.Create(dir, consortium.Spec{Chain: "gba", Orderers: 4}); err != nil {
		t.Fatal(err)
	}
	if _, err := consortium.AddReader(dir, consortium.ReaderSpec{Name: "hk-bank", Grants: []string{"CN.business"}}); err != nil {
		t.Fatal(err)
	}
	cc, err := consortium.Open(dir, consortium.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := natsserver.ConsortiumTLS(cc.CA, dir, "nats", []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := natsserver.StartServer(natsserver.ServerConfig{StoreDir: filepath.Join(t.TempDir(), "js"), Listen: "127.0.0.1:-1",
		Identities: cc.Identities, TLS: st})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	op, err := srv.Connect("operator")
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	js, _ := jetstream.New(op)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bus.EnsureStreams(ctx, js, bus.StreamConfig{MemoryForProofs: true}); err != nil {
		t.Fatal(err)
	}
	sub := func(url string) (string, int) {
		_, errOut, code := runCmd(t, newSubscribeCmd(), "", "--data", dir, "--nats", url, "--reader", "hk-bank",
			"--from", "cn", "--kind", "business", "--timeout", "1s")
		return errOut, code
	}
	if errOut, code := sub(srv.ClientURL()); code != 2 || !strings.Contains(errOut, "tls") {
		t.Fatalf("without a client certificate: exit %d, %q", code, errOut)
	}
	plain := strings.Replace(srv.ClientURL(), "tls://", "nats://", 1)
	if errOut, code := sub(plain); code != 2 {
		t.Fatalf("plaintext to a TLS port: exit %d, %q", code, errOut)
	}
	if out, err := runBaybus(t, "keys", "cert", "--dir", dir, "--name", "reader-hk-bank", "--role", "reader", "--client"); err != nil {
		t.Fatalf("keys cert: %v\n%s", err, out)
	}
	if errOut, code := sub(srv.ClientURL()); code != 0 {
		t.Fatalf("with the reader's certificate: exit %d, %q", code, errOut)
	}
}
