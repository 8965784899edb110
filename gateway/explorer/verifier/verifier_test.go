package verifier_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baybus/baybus/gateway/explorer/verifier"
	"github.com/baybus/baybus/schemas"
)

// vector is an entry of ledger/proof's golden vectors.
type vector struct {
	Name      string         `json:"name"`
	File      string         `json:"file"`
	Binary    string         `json:"binary"`
	Status    schemas.Status `json:"status"`
	Height    uint64         `json:"height"`
	TxHeight  uint64         `json:"txHeight"`
	Owner     string         `json:"owner"`
	Check     string         `json:"check"`
	WarmAfter string         `json:"warmAfter"`
}

const golden = "../../../ledger/proof/testdata"

// TestGoldenVectors: the explorer's verifier gives ledger/proof's verdict
// on every golden vector of both rules versions, in both encodings: the
// status and heights of a valid one, the failed check of an invalid one.
func TestGoldenVectors(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	checks := map[string]bool{}
	for _, dir := range []string{"", "v2"} {
		trust, err := os.ReadFile(filepath.Join(golden, dir, "trust.json"))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(filepath.Join(golden, dir, "vectors.json"))
		if err != nil {
			t.Fatal(err)
		}
		var vs []vector
		if err := json.Unmarshal(raw, &vs); err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			if v.WarmAfter != "" {
				continue // needs a verifier that saw another bundle first; the page checks one at a time
			}
			files := []string{v.File}
			if v.Binary != "" {
				files = append(files, v.Binary)
			}
			for _, f := range files {
				p, err := os.ReadFile(filepath.Join(golden, dir, f))
				if err != nil {
					t.Fatal(err)
				}
				got := verifier.Check(p, trust, "hk", now)
				switch {
				case v.Check != "":
					checks[v.Check] = true
					if got.Valid || got.Check != v.Check || got.Error == "" {
						t.Errorf("%s/%s: %+v, want check %s failed", dir, f, got, v.Check)
					}
				case !got.Valid || got.Status != v.Status || got.Height != v.Height || got.TxHeight != v.TxHeight ||
					got.Chain == "" || got.Time == nil || (v.Owner != "" && got.Owner != v.Owner):
					t.Errorf("%s/%s: %+v, want %s at %d (tx at %d)", dir, f, got, v.Status, v.Height, v.TxHeight)
				case got.Rendering == nil || got.Rendering.Jurisdiction != schemas.HK || got.RenderError != "":
					t.Errorf("%s/%s: rendering %+v %s", dir, f, got.Rendering, got.RenderError)
				}
			}
		}
	}
	for _, c := range []string{"record", "batch-path", "batch-signature", "tx-path", "header", "quorum", "state-proof", "key-not-valid"} {
		if !checks[c] {
			t.Errorf("no vector failed check %s", c)
		}
	}
}

func TestInputsThatCannotBeUsed(t *testing.T) {
	trust, err := os.ReadFile(filepath.Join(golden, "v2", "trust.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name         string
		proof, trust []byte
		render       string
		problem      string
		check        string
	}{
		{"no trust", []byte("{}"), nil, "", "trust bundle", ""},
		{"a proof as the trust", []byte("{}"), []byte(`{"v":1,"key":"CN/1"}`), "", "trust bundle", ""},
		{"unknown rendering", []byte("{}"), trust, "xx", "render", ""},
		{"not a proof", []byte("hello"), trust, "", "", "format"},
		{"empty proof", nil, trust, "", "", "format"},
		{"a trust bundle as the proof", trust, trust, "", "", "format"},
	} {
		got := verifier.Check(tc.proof, tc.trust, tc.render, time.Now())
		if got.Valid || !strings.HasPrefix(got.Problem, tc.problem) || got.Check != tc.check || (tc.problem != "" && got.Problem == "") {
			t.Errorf("%s: %+v", tc.name, got)
		}
		var back verifier.Result
		if err := json.Unmarshal([]byte(verifier.JSON(tc.proof, tc.trust, tc.render, time.Now())), &back); err != nil || back.Valid {
			t.Errorf("%s: JSON: %v %+v", tc.name, err, back)
		}
	}
}

// TestImportGraph keeps the verifier offline and small enough for the
// browser: no NATS, no storage, no consensus, no HTTP.
func TestImportGraph(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/baybus/baybus/gateway/explorer/verifier").CombinedOutput()
	if err != nil {
		t.Skipf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, bad := range []string{"nats", "pebble", "SmartBFT", "tidwall", "net/http", "prometheus", "gateway/api"} {
			if strings.Contains(dep, bad) {
				t.Errorf("the verifier depends on %s", dep)
			}
		}
	}
}
