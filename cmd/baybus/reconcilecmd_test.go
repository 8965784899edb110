package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/gateway/client"
	"github.com/baybus/baybus/internal/system"
	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/reconcile"
	"github.com/baybus/baybus/schemas"
)

// execReconcile runs `baybus reconcile args...` and returns its stdout,
// stderr and exit status.
func execReconcile(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	return runCmd(t, newReconcileCmd(), stdin, args...)
}

func fixture(t *testing.T, cfg reconcile.FixtureConfig) *reconcile.Fixture {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	fx, err := reconcile.WriteFixture(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return fx
}

// readReport splits a report into its summary and differences.
func readReport(t *testing.T, path string) (*reconcile.Summary, []reconcile.Difference) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	if !sc.Scan() {
		t.Fatal("empty report")
	}
	var head struct{ Summary *reconcile.Summary }
	if err := json.Unmarshal(sc.Bytes(), &head); err != nil || head.Summary == nil {
		t.Fatalf("summary line %q: %v", sc.Text(), err)
	}
	var diffs []reconcile.Difference
	for sc.Scan() {
		var d reconcile.Difference
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil || d.Class == "" {
			t.Fatalf("difference line %q: %v", sc.Text(), err)
		}
		diffs = append(diffs, d)
	}
	return head.Summary, diffs
}

func TestReconcileCmdReport(t *testing.T) {
	fx := fixture(t, reconcile.FixtureConfig{Licenses: 1500, DiffEvery: 500})
	report := filepath.Join(t.TempDir(), "report.jsonl")
	out, errOut, code := execReconcile(t, "", "--city", "shenzhen", "--register", fx.Register, "--data", fx.Dir, "--report", report, "--progress", "log", "--show", "3")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	sum, diffs := readReport(t, report)
	if sum.Differences != fx.Expected || uint64(len(diffs)) != fx.Expected.Total || sum.Rows != fx.Rows {
		t.Fatalf("report: %+v (%d lines), injected %+v", sum.Differences, len(diffs), fx.Expected)
	}
	for _, want := range []string{"reconcile shenzhen (CN)", "ledger_only  3", "register_only  3", "fields  3", "status  3", "invalid  3", "differences  15",
		"repair: 6 events planned", "first 3 differences:", "report: " + report} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.HasSuffix(errOut, "15 differences") {
		t.Errorf("stderr ends %q, want the exit message", errOut)
	}

	// The same register as CSV, chosen by the file's extension, through
	// stdin-free file reading; and an explicit --as-of.
	raw, err := os.ReadFile(fx.Register)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]byte
	for _, l := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		rows = append(rows, l)
	}
	csvPath := filepath.Join(t.TempDir(), "register.csv")
	var buf bytes.Buffer
	if err := reconcile.WriteCSV(&buf, rows); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(csvPath, buf.Bytes(), 0o644)
	report2 := filepath.Join(t.TempDir(), "r.jsonl")
	_, errOut, code = execReconcile(t, "", "--city", "shenzhen", "--register", csvPath, "--data", fx.Dir, "--report", report2, "--progress", "off",
		"--as-of", fmt.Sprint(fx.Blocks))
	if sum2, _ := readReport(t, report2); code != 1 || sum2.Format != reconcile.FormatCSV || sum2.Differences != fx.Expected {
		t.Fatalf("CSV: exit %d, %+v\n%s", code, sum2, errOut)
	}

	// The register from stdin.
	_, _, code = execReconcile(t, string(raw), "--city", "shenzhen", "--register", "-", "--data", fx.Dir, "--progress", "off")
	if code != 1 {
		t.Fatalf("stdin: exit %d", code)
	}
}

func TestReconcileCmdExitStatus(t *testing.T) {
	fx := fixture(t, reconcile.FixtureConfig{Licenses: 300, NoDiffs: true})
	out, errOut, code := execReconcile(t, "", "--city", "shenzhen", "--register", fx.Register, "--data", fx.Dir, "--progress", "off")
	if code != 0 || !strings.Contains(out, "differences") {
		t.Fatalf("matching register: exit %d\n%s\n%s", code, out, errOut)
	}
	hk, err := bridge.Sample(mustCity(t, "hongkong"), "", 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	hkReg := filepath.Join(t.TempDir(), "hk.jsonl")
	os.WriteFile(hkReg, append(bytes.Join(hk, []byte("\n")), '\n'), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown city", []string{"--city", "atlantis", "--register", fx.Register, "--data", fx.Dir}, "unknown city"},
		{"no trust bundle", []string{"--city", "shenzhen", "--register", fx.Register, "--data", t.TempDir()}, "trust"},
		{"no register", []string{"--city", "shenzhen", "--register", filepath.Join(fx.Dir, "nope.jsonl"), "--data", fx.Dir}, "nope.jsonl"},
		{"wrong jurisdiction", []string{"--city", "shenzhen", "--register", hkReg, "--data", fx.Dir}, "another jurisdiction"},
		{"repair as of", []string{"--city", "shenzhen", "--register", fx.Register, "--data", fx.Dir, "--repair", "--as-of", "1"}, "--as-of"},
		{"height not reached", []string{"--city", "shenzhen", "--register", fx.Register, "--data", fx.Dir, "--as-of", "999"}, "height"},
		{"bad format", []string{"--city", "shenzhen", "--register", fx.Register, "--data", fx.Dir, "--format", "xml"}, "xml"},
		{"no nats", []string{"--city", "shenzhen", "--register", fx.Register, "--data", fx.Dir, "--nats", "nats://127.0.0.1:1"}, "connect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := execReconcile(t, "", append(tc.args, "--progress", "off")...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q (want 2, %q)", code, errOut, tc.want)
			}
		})
	}
}

func mustCity(t *testing.T, token string) schemas.City {
	t.Helper()
	c, err := schemas.LookupCity(token)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestReconcileCmdRepairPublishes: --repair posts the planned events to the
// city's gateway in native form, waiting for commit.
func TestReconcileCmdRepairPublishes(t *testing.T) {
	fx := fixture(t, reconcile.FixtureConfig{Licenses: 1000, DiffEvery: 500})
	var mu sync.Mutex
	var got []string
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r.URL.Path+"?"+r.URL.RawQuery)
		body, _ := io.ReadAll(r.Body)
		lines := bytes.Split(bytes.TrimSpace(body), []byte("\n"))
		var res []map[string]any
		for i, l := range lines {
			if _, _, err := bridge.For(schemas.CN).Normalize(l); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			res = append(res, map[string]any{"index": i, "txId": fmt.Sprintf("%064d", i), "status": "committed"})
		}
		json.NewEncoder(w).Encode(map[string]any{"results": res})
	}))
	defer gw.Close()
	out, errOut, code := execReconcile(t, "", "--city", "shenzhen", "--register", fx.Register, "--data", fx.Dir, "--repair", "--url", gw.URL, "--progress", "off")
	// 2 issues (register only) and 2 amends (fields); revoked licenses
	// and missing rows are not repaired.
	if code != 1 || !strings.Contains(out, "repair: 4 events: 4 committed, 0 accepted, 0 duplicates, 0 refused") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if len(got) != 1 || got[0] != "/v1/cities/shenzhen/events?format=native&wait=commit" {
		t.Fatalf("requests %v", got)
	}
}

// TestReconcileCmdOverTheBus: a running system read over NATS as the
// service identity, repaired through its gateway; the second run finds
// nothing and publishes nothing.
func TestReconcileCmdOverTheBus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a system")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	// Rules version 2 by name: reconciling a chain of version 3 (the
	// default) needs the city's disclosures (--disclosures).
	sys, err := system.Start(ctx, system.Config{DataDir: dir, Listen: "127.0.0.1:0", NATSListen: "127.0.0.1:-1", Orderers: 4, NoAuth: true, Rules: block.Rules2,
		Bridges: gatewayBridges, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Stop()
	evs, err := bridge.Sample(mustCity(t, "zhuhai"), "", 40, 3)
	if err != nil {
		t.Fatal(err)
	}
	var events []json.RawMessage
	for _, e := range evs {
		events = append(events, e)
	}
	gw := client.New("http://"+sys.HTTPAddr, nil)
	if _, err := gw.Publish(ctx, "zhuhai", events, client.Options{Native: true, Wait: true}); err != nil {
		t.Fatal(err)
	}
	// The register also holds a license the ledger lacks.
	more, err := bridge.Sample(mustCity(t, "zhuhai"), schemas.KindBusiness, 1, 77)
	if err != nil {
		t.Fatal(err)
	}
	reg := filepath.Join(t.TempDir(), "zhuhai.jsonl")
	os.WriteFile(reg, append(bytes.Join(append(evs, more[0]), []byte("\n")), '\n'), 0o644)
	args := []string{"--city", "zhuhai", "--register", reg, "--data", dir, "--nats", sys.Bus.ClientURL(), "--url", "http://" + sys.HTTPAddr, "--repair", "--progress", "off"}
	out, errOut, code := execReconcile(t, "", args...)
	if code != 1 || !strings.Contains(out, "repair: 1 events: 1 committed") || !strings.Contains(out, "register_only  1") && !strings.Contains(strings.Join(strings.Fields(out), " "), "register_only 1") {
		t.Fatalf("first run: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = execReconcile(t, "", args...)
	if code != 0 || strings.Contains(out, "repair:") {
		t.Fatalf("second run: exit %d\n%s\n%s", code, out, errOut)
	}
}

// An orderer whose oldest blocks were archived is reconciled over its
// archive (--archive-dir, with --orderer), with the same differences as
// before archiving; without the archive its log is a broken chain, and an
// archive without --orderer in an `up` directory is refused.
func TestReconcileCmdOverAnArchive(t *testing.T) {
	fx := fixture(t, reconcile.FixtureConfig{Licenses: 12000, DiffEvery: 3000})
	ord := "hongkong" // the orderer whose log the fixture writes
	if fx.Blocks < 3 {
		t.Fatalf("fixture of %d blocks: too few to archive", fx.Blocks)
	}
	arch := t.TempDir()
	out, errOut, code := runCmd(t, newRootCmd(), "", "archive", "--data", filepath.Join(fx.Dir, "orderers", ord), "--keep", "1", "--chunk", "1", "--archive-dir", arch)
	if want := fmt.Sprintf("archived %d blocks", fx.Blocks-1); code != 0 || !strings.Contains(out, want) {
		t.Fatalf("archive: %d %q %q (want %q)", code, out, errOut, want)
	}

	report := filepath.Join(t.TempDir(), "report.jsonl")
	out, errOut, code = execReconcile(t, "", "--city", "shenzhen", "--register", fx.Register, "--data", fx.Dir, "--orderer", ord,
		"--archive-dir", arch, "--report", report, "--progress", "off")
	if code != 1 {
		t.Fatalf("over the archive: exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	sum, diffs := readReport(t, report)
	if sum.Differences != fx.Expected || uint64(len(diffs)) != fx.Expected.Total || sum.Height != fx.Blocks || sum.Rows != fx.Rows {
		t.Fatalf("over the archive: %+v at height %d (%d lines), injected %+v in %d blocks", sum.Differences, sum.Height, len(diffs), fx.Expected, fx.Blocks)
	}
	// --as-of an archived height reads only the archive.
	_, errOut, code = execReconcile(t, "", "--city", "shenzhen", "--register", fx.Register, "--data", fx.Dir, "--orderer", ord,
		"--archive-dir", arch, "--as-of", "1", "--report", report, "--progress", "off")
	if sum, _ := readReport(t, report); code != 1 || sum.Height != 1 {
		t.Fatalf("--as-of 1 over the archive: exit %d, height %d\n%s", code, sum.Height, errOut)
	}

	if _, errOut, code := execReconcile(t, "", "--city", "shenzhen", "--register", fx.Register, "--data", fx.Dir, "--orderer", ord, "--progress", "off"); code != 2 || !strings.Contains(errOut, "starts at block") {
		t.Fatalf("an archived log without its archive: exit %d %q", code, errOut)
	}
	if _, errOut, code := execReconcile(t, "", "--city", "shenzhen", "--register", fx.Register, "--data", fx.Dir, "--archive-dir", arch, "--progress", "off"); code != 2 || !strings.Contains(errOut, "--orderer") {
		t.Fatalf("an archive without --orderer: exit %d %q", code, errOut)
	}
	// Another orderer's (empty) archive does not fit this log.
	if _, errOut, code := execReconcile(t, "", "--city", "shenzhen", "--register", fx.Register, "--data", fx.Dir, "--orderer", ord, "--archive-dir", t.TempDir(), "--progress", "off"); code != 2 || !strings.Contains(errOut, "archive") {
		t.Fatalf("a log with a foreign archive: exit %d %q", code, errOut)
	}
	if _, errOut, code := execReconcile(t, "", "--city", "shenzhen", "--register", fx.Register, "--nats", "nats://127.0.0.1:1", "--data", fx.Dir, "--archive-dir", arch, "--progress", "off"); code != 2 || !strings.Contains(errOut, "--nats") {
		t.Fatalf("--archive-dir with --nats: exit %d %q", code, errOut)
	}
}
