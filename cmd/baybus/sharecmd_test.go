package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/gateway/api"
	"github.com/baybus/baybus/gateway/auth"
	"github.com/baybus/baybus/gateway/client"
	"github.com/baybus/baybus/gateway/share"
	"github.com/baybus/baybus/internal/system"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/consortium"
	"github.com/baybus/baybus/schemas/keys"
)

// TestShareCommands runs issue 15's commands as a city and a reader use
// them, against a whole system of rules version 3: Shenzhen grants the
// Hong Kong bank its legal representatives' names; the bank asks, opens
// the answer (the name rendered as Hong Kong reads it) and keeps evidence
// anyone can check, which fails once changed; a request outside the grant
// is refused with exit status 1; both sides' audits list the two reads,
// with proofs that verify.
func TestShareCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole system")
	}
	dir := t.TempDir()
	if _, err := consortium.Create(dir, consortium.Spec{Chain: "gba-test", Orderers: 4, Rules: keys.MaxRules}); err != nil {
		t.Fatal(err)
	}
	if _, err := consortium.AddReader(dir, consortium.ReaderSpec{Name: "hk-bank", Grants: []string{"CN.*"}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sys, err := system.Start(ctx, system.Config{DataDir: dir, Listen: "127.0.0.1:0", NATSListen: "-", Orderers: 4, Chain: "gba-test",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sys.Stop)
	base := "http://" + sys.HTTPAddr
	szTok, err := sys.Token("shenzhen")
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.OpenTokens(auth.TokenPath(dir), auth.TokenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	bankTok, _, err := tokens.IssueReader("hk-bank", time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	szFile, bankFile := filepath.Join(work, "sz.token"), filepath.Join(work, "bank.token")
	for f, tok := range map[string]string{szFile: szTok, bankFile: bankTok} {
		if err := os.WriteFile(f, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// A Shenzhen company and its legal representative.
	sz, _ := schemas.LookupCity("shenzhen")
	natives, err := bridge.Sample(sz, schemas.KindBusiness, 1, 77)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := bridge.ToTx("gba-test", sz, natives[0])
	if err != nil {
		t.Fatal(err)
	}
	ev := tx.Event()
	const rep = "王小明" // the same in both scripts: HK renders in traditional characters
	ev.Record.People = []schemas.Party{{Name: schemas.Text{schemas.LangHans: rep}, Role: schemas.Text{schemas.LangHans: "法定代表人"}}}
	raw, _ := json.Marshal(ev)
	res, err := client.New(base, nil, client.WithToken(szTok)).Publish(ctx, "shenzhen", []json.RawMessage{raw}, client.Options{Wait: true})
	if err != nil || res[0].Receipt == nil || res[0].Receipt.Status != api.StatusCommitted {
		t.Fatalf("publish: %+v %v", res, err)
	}
	license := schemas.LicenseKey(schemas.CN, ev.Record.ID)
	to := time.Now().In(schemas.GBATime).AddDate(1, 0, 0).Format(schemas.DateLayout)
	city := []string{"--url", base, "--token-file", szFile}
	bank := []string{"--url", base, "--token-file", bankFile, "--consortium", dir, "--reader", "hk-bank"}

	out, errOut, code := runCmd(t, newShareCmd(), "", append([]string{"grant", "--city", "shenzhen", "--reader", "hk-bank", "--kinds", "business",
		"--fields", "people.name", "--purpose", "kyc", "--to", to, "--id", "g-kyc"}, city...)...)
	if code != 0 || !strings.Contains(out, `"grant/shenzhen/g-kyc"`) {
		t.Fatalf("grant: exit %d\n%s%s", code, out, errOut)
	}

	answer := filepath.Join(work, "answer.json")
	if _, errOut, code := runCmd(t, newShareCmd(), "", append([]string{"request", "--city", "shenzhen", "--license", license, "--kind", "business",
		"--fields", "people.name", "--purpose", "kyc", "--out", answer}, bank...)...); code != 0 {
		t.Fatalf("request: exit %d: %s", code, errOut)
	}
	if b, _ := os.ReadFile(answer); strings.Contains(string(b), rep) {
		t.Fatal("the answer on disk holds the name in plaintext")
	}
	opened := filepath.Join(work, "opened.json")
	out, errOut, code = runCmd(t, newShareCmd(), "", "open", answer, "--consortium", dir, "--reader", "hk-bank", "--render", "hk", "--out", opened)
	if code != 0 || !strings.Contains(out, rep) {
		t.Fatalf("open: exit %d\n%s%s", code, out, errOut)
	}
	trust := filepath.Join(dir, keys.TrustFile)
	if out, errOut, code := runCmd(t, newShareCmd(), "", "check", opened, "--trust", trust); code != 0 || !strings.Contains(out, rep) {
		t.Fatalf("check: exit %d\n%s%s", code, out, errOut)
	}
	// The evidence with the name changed does not check.
	var o share.Opened
	b, _ := os.ReadFile(opened)
	if err := json.Unmarshal(b, &o); err != nil || len(o.Items) != 1 {
		t.Fatalf("opened: %v %+v", err, o)
	}
	d := []byte(o.Items[0].Disclosure)
	d[len(d)/2] ^= 1
	o.Items[0].Disclosure = string(d)
	forged := filepath.Join(work, "forged.json")
	b, _ = json.Marshal(o)
	if err := os.WriteFile(forged, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, code := runCmd(t, newShareCmd(), "", "check", forged, "--trust", trust); code != 1 {
		t.Fatalf("a changed disclosure checked: exit %d", code)
	}

	// Another purpose: refused, recorded, exit 1.
	out, _, code = runCmd(t, newShareCmd(), "", append([]string{"request", "--city", "shenzhen", "--license", license, "--kind", "business",
		"--fields", "people.name", "--purpose", "marketing"}, bank...)...)
	if code != 1 || !strings.Contains(out, string(schemas.RefusePurpose)) {
		t.Fatalf("a request for another purpose: exit %d\n%s", code, out)
	}

	// The audit from both sides: the two reads, each proof verified and
	// written.
	proofs := filepath.Join(work, "proofs")
	out, errOut, code = runCmd(t, newAuditCmd(), "", append([]string{"accesses", "--city", "shenzhen", "--proofs", proofs, "--trust", trust}, city...)...)
	if code != 0 || len(outLines(out)) != 2 || !strings.Contains(out, `"outcome":"granted"`) || !strings.Contains(out, `"reason":"purpose_not_granted"`) {
		t.Fatalf("shenzhen's audit: exit %d\n%s%s", code, out, errOut)
	}
	if files, _ := os.ReadDir(proofs); len(files) != 2 {
		t.Fatalf("%d proofs written, want 2", len(files))
	}
	out, errOut, code = runCmd(t, newAuditCmd(), "", "accesses", "--reader", "hk-bank", "--url", base, "--token-file", bankFile)
	if code != 0 || len(outLines(out)) != 2 {
		t.Fatalf("hk-bank's audit: exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out, rep) {
		t.Fatal("the audit lists the name read")
	}
}
