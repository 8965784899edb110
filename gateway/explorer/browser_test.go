package explorer_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/baybus/baybus/gateway/share"
	"github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

// chromium finds a Chromium or Chrome to drive. scripts/test installs
// Debian's chromium when it is missing and sets BAYBUS_REQUIRE_BROWSER, so
// there a missing browser fails the test instead of skipping it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("BAYBUS_REQUIRE_BROWSER") != "" {
		t.Fatal("no chromium on PATH (scripts/test installs Debian's chromium)")
	}
	t.Skip("no chromium on PATH: apt-get install -y chromium")
	return ""
}

// TestBrowser drives the explorer in headless Chromium as a user would:
// it gives the page a read token, waits for a live block (and sees one
// more arrive), opens a license, downloads its proof, gives the proof and
// trust.json to the verifier page and reads "valid"; then gives it a proof
// with one changed byte and reads the failed check. Screenshots of each
// step go to the test's artifact directory (kept with
// `go test -artifacts -outputdir DIR`).
func TestBrowser(t *testing.T) {
	if raceEnabled {
		t.Skip("runs once, without the race detector")
	}
	if testing.Short() {
		t.Skip("starts four orderers and a browser")
	}
	exe := chromium(t)
	c := startChainRules(t, keys.MaxRules) // with sharing, for the access records
	shots := t.ArtifactDir()
	t.Logf("screenshots in %s", shots)
	downloads := t.TempDir()

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	console := chromedp.Console(ctx)
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no deadline of its own
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			logConsole(t, console)
		}
	}()
	step := func(name string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, scancel := context.WithTimeout(ctx, timeout)
		defer scancel()
		err := chromedp.Do(sctx, actions...)
		shot(t, ctx, shots, name)
		if err != nil {
			page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("main").innerText`))
			t.Fatalf("%s: %v; the page shows:\n%s", name, err, page)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}

	// The page asks for a token when the gateway wants one.
	step("01-token", 30*time.Second,
		chromedp.Navigate(c.url+"/"),
		chromedp.WaitVisible(chromedp.CSS("#auth")),
		chromedp.SendKeys(chromedp.CSS("#token"), c.tokens["shenzhen"]),
		chromedp.Click(chromedp.CSS(`#token-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#blocks tr[data-height]`)),
		chromedp.WaitVisible(chromedp.CSS(`#live-state.live`)),
	)
	// A block sealed now shows up without a reload.
	r := c.publish(t, "shenzhen", []json.RawMessage{issueCN("sz-browser", mustUSCC(t, "AB7KQ3LC"), "深圳市浏览器测试有限公司")}, false)
	step("02-live-block", 30*time.Second,
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#blocks tr[data-height="%d"]`, r[0].Height))),
	)
	if got := text(fmt.Sprintf(`#blocks tr[data-height="%d"] td.signers`, r[0].Height)); got == "" {
		t.Fatal("the live block names no signers")
	}

	// The license page: status, history, proof download.
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads, EventsEnabled: new(true)}); err != nil {
		t.Fatal(err)
	}
	step("03-license", 30*time.Second,
		chromedp.Navigate(c.url+"/#/license/"+c.key),
		chromedp.WaitVisible(chromedp.CSS(`#license-status .badge.suspended`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-height]`)),
	)
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("tr[data-height]").length`)); err != nil || n != 2 {
		t.Fatalf("history rows: %d %v", n, err)
	}
	step("04-download", 30*time.Second,
		chromedp.Click(chromedp.CSS("#download-proof")),
		chromedp.WaitVisible(chromedp.CSS(`#proof-state`)),
	)
	proofPath := filepath.Join(downloads, strings.Replace(c.key, "/", "-", 1)+".proof.json")
	raw := waitFile(t, ctx, proofPath)

	// The verifier: the proof and trust.json, checked in the browser.
	trustPath := filepath.Join(c.sys.Config().DataDir, keys.TrustFile)
	step("05-verify-valid", 60*time.Second,
		chromedp.Navigate(c.url+"/#/verify"),
		chromedp.WaitVisible(chromedp.CSS("#drop")),
		chromedp.SetUploadFiles(chromedp.CSS("#proof-file"), []string{proofPath}),
		chromedp.SetUploadFiles(chromedp.CSS("#trust-file"), []string{trustPath}),
		chromedp.WaitVisible(chromedp.CSS(`#verdict.valid`)),
	)
	if got := text("#verdict .headline"); !strings.Contains(got, "Proof valid") || !strings.Contains(got, c.key) || !strings.Contains(got, "suspended") {
		t.Fatalf("verdict: %q", got)
	}

	// One byte of the record changed: the record check fails.
	tampered := tamper(t, raw)
	badPath := filepath.Join(t.TempDir(), "tampered.proof.json")
	if err := os.WriteFile(badPath, tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	step("06-verify-tampered", 30*time.Second,
		chromedp.SetUploadFiles(chromedp.CSS("#proof-file"), []string{badPath}),
		chromedp.WaitVisible(chromedp.CSS(`#verdict.invalid`)),
	)
	if got := text("#verdict .headline"); got != "INVALID: the record check failed" {
		t.Fatalf("tampered verdict: %q", got)
	}

	// A transaction rendered for Hong Kong.
	step("07-tx-hk", 30*time.Second,
		chromedp.Navigate(c.url+"/#/tx/"+c.sz[1].TxID+"/hk"),
		chromedp.WaitVisible(chromedp.CSS(`table.rendering[data-jurisdiction="HK"]`)),
	)

	// Access records (issue 15 §5): Shenzhen grants cn-bank its legal
	// representatives' names; cn-bank reads one; Shenzhen's page of the
	// reads of its data shows who read what, when, under which grant,
	// sealed at which height, with a proof that verifies offline.
	uscc := mustUSCC(t, "AC8LR4MD")
	c.publish(t, "shenzhen", []json.RawMessage{issueCNWithRep("sz-browser-rep", uscc, "深圳市访问记录测试有限公司", "GUO Li", "440307199112115050")}, false)
	rctx, rcancel := context.WithTimeout(ctx, 60*time.Second)
	defer rcancel()
	today := time.Now().In(schemas.GBATime).Format(schemas.DateLayout)
	nextYear := time.Now().In(schemas.GBATime).AddDate(1, 0, 0).Format(schemas.DateLayout)
	if _, err := share.NewClient(c.url, nil, c.tokens["shenzhen"]).Grant(rctx, "shenzhen", share.GrantBody{ID: "g-browser", Reader: "cn-bank",
		Kinds: []string{"business"}, Fields: []string{"people.name"}, Purpose: "kyc", From: today, To: nextYear}); err != nil {
		t.Fatal(err)
	}
	rq, err := share.NewRequest("gba-explorer", "cn-bank", "shenzhen", schemas.OpDisclose, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rq.License, rq.Kind, rq.Fields, rq.Purpose = "CN/"+uscc, schemas.KindBusiness, []string{"people.name"}, "kyc"
	body, err := share.Sign(rq, c.reader.Sign)
	if err != nil {
		t.Fatal(err)
	}
	a, err := share.NewClient(c.url, nil, c.tokens["cn-bank"]).Request(rctx, body)
	if err != nil || a.Outcome != schemas.OutcomeGranted {
		t.Fatalf("cn-bank's request: %+v %v", a, err)
	}
	row := `#main tr[data-key^="access/shenzhen/"]`
	step("08-accesses", 30*time.Second,
		chromedp.Navigate(c.url+"/#/accesses?city=shenzhen"),
		chromedp.WaitVisible(chromedp.CSS(row)),
	)
	got := text(row)
	for _, want := range []string{"cn-bank", "CN/" + uscc, "people.name", "kyc", "g-browser", "granted"} {
		if !strings.Contains(got, want) {
			t.Fatalf("the access record's row %q lacks %q", got, want)
		}
	}
	key, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('`+row+`').dataset.key`))
	if err != nil {
		t.Fatal(err)
	}
	step("09-access-proof", 30*time.Second, chromedp.Click(chromedp.CSS(row+" button.download-access-proof")))
	pb, err := proof.DecodeJSON(waitFile(t, ctx, filepath.Join(downloads, strings.ReplaceAll(key, "/", "-")+".proof.json")))
	if err != nil {
		t.Fatal(err)
	}
	trust, err := keys.LoadBundle(trustPath)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := proof.Verify(trust, pb); err != nil || pb.Key != key {
		t.Fatalf("the access record's proof %s: %+v %v", key, v, err)
	}
}

// tamper changes one character of the company's name inside the proof's
// record: still a well-formed proof, no longer the record its id hashes.
func tamper(t *testing.T, raw []byte) []byte {
	t.Helper()
	i := bytes.Index(raw, []byte("有限公司"))
	if i < 0 {
		t.Fatalf("no company name in the proof: %.300s", raw)
	}
	out := bytes.Clone(raw)
	copy(out[i:], "无限公司")
	return out
}

func mustUSCC(t *testing.T, body8 string) string {
	t.Helper()
	s, err := idsMake(body8)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// waitFile waits until the browser has written a whole download.
func waitFile(t *testing.T, ctx context.Context, path string) []byte {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if raw, err := os.ReadFile(path); err == nil && json.Valid(raw) {
			return raw
		}
		time.Sleep(50 * time.Millisecond)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	t.Fatalf("no download %s (the directory holds %v)", path, entries)
	return nil
}

func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Logf("screenshot %s: %v", name, err)
	}
}

func logConsole(t *testing.T, console func(func(chromedp.ConsoleMessage, error) bool)) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range console {
			if err != nil {
				return
			}
			t.Logf("console: %s", m)
		}
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
	}
}
