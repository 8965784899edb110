// Package examples holds the README's example inputs: canonical events of
// each kind and jurisdiction, a JSONL batch and a native record per
// jurisdiction (README.md in this folder). This test checks each as a
// gateway would before it signs it; the README runner (cmd/baybus) then
// publishes them through a real `up`.
package examples_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/baybus/baybus/bridge"
	"github.com/baybus/baybus/schemas"
)

// cityOf is the city that publishes an example, by its file name's prefix.
var cityOf = map[string]string{"cn": "shenzhen", "hk": "hongkong", "mo": "macao"}

// check does what the gateway does with an event before it signs it
// (gateway.prepare): the schema, the bridge's identifier rules, the ledger's
// record check.
func check(t *testing.T, name, city string, raw []byte, native bool) *schemas.Tx {
	t.Helper()
	c, err := schemas.LookupCity(city)
	if err != nil {
		t.Fatal(err)
	}
	br := bridge.For(c.Jurisdiction)
	if native {
		ev, format, err := br.Normalize(raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !strings.HasPrefix(format, strings.ToLower(string(c.Jurisdiction))+"/") {
			t.Errorf("%s: native format %s", name, format)
		}
		if raw, err = json.Marshal(ev); err != nil {
			t.Fatal(err)
		}
	}
	ev, err := schemas.ValidateEventJSON(raw)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if ev.Action.FullRecord() {
		if err := br.ValidateRecordIDs(ev.Kind, &ev.Record); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	tx := schemas.NewTx("gba", c, ev)
	if err := schemas.CheckTx(tx); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	// The README verifies proofs of these licenses and expects them
	// valid: no validity may have ended.
	if v := ev.Record.Validity; v != nil && v.To != "" {
		if s := schemas.EffectiveStatus(schemas.StatusValid, v.To, time.Now().AddDate(2, 0, 0)); s != schemas.StatusValid {
			t.Errorf("%s: valid to %s, which ends within two years", name, v.To)
		}
	}
	return tx
}

func TestEvents(t *testing.T) {
	files, err := filepath.Glob("events/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no events: %v", err)
	}
	kinds := map[string]bool{}
	keys := map[string]string{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(f)
		prefix, _, _ := strings.Cut(base, "-")
		tx := check(t, f, cityOf[prefix], raw, false)
		kinds[prefix+"/"+tx.Kind.Short()] = true
		if tx.Action == schemas.ActionIssue {
			if other, dup := keys[tx.LicenseKey()]; dup {
				t.Errorf("%s and %s issue the same license %s", f, other, tx.LicenseKey())
			}
			keys[tx.LicenseKey()] = f
		}
		if !strings.HasPrefix(base, prefix+"-"+tx.Kind.Short()+"-"+string(tx.Action)) {
			t.Errorf("%s is a %s %s: name it so", f, tx.Kind.Short(), tx.Action)
		}
	}
	for _, j := range []string{"cn", "hk", "mo"} {
		for _, k := range []string{"business", "certificate", "approval"} {
			if !kinds[j+"/"+k] {
				t.Errorf("no canonical event of %s/%s", j, k)
			}
		}
	}
}

func TestBatch(t *testing.T) {
	f, err := os.Open("macao-batch.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		n++
		check(t, "macao-batch.jsonl line "+strconv.Itoa(n), "macao", sc.Bytes(), false)
	}
	if n < 2 {
		t.Fatalf("a batch of %d events", n)
	}
}

func TestNative(t *testing.T) {
	for _, j := range []string{"cn", "hk", "mo"} {
		f := filepath.Join("native", j+"-business.json")
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		check(t, f, cityOf[j], raw, true)
	}
}
