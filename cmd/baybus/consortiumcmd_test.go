package main

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/baybus/baybus/schemas/config"
	"github.com/baybus/baybus/schemas/keys"
)

// TestConsortiumProposeSignShow: Shenzhen's key rotated from height 20 by
// the CLI, as the members would: propose, then each signs; the proposal
// is checked as the ledger would at height 10 after each step.
func TestConsortiumProposeSignShow(t *testing.T) {
	dir := t.TempDir()
	c, err := keys.NewConsortiumRules("gba-cli", []string{"guangzhou", "shenzhen", "zhuhai", "hongkong"},
		[]string{"hk", "macao", "qianhai", "hengqin", "nansha"}, keys.Schemes{City: keys.Ed25519, Orderer: keys.Ed25519}, 3, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Write(dir); err != nil {
		t.Fatal(err)
	}
	trust := filepath.Join(dir, keys.TrustFile)
	run := func(args ...string) (string, int) {
		t.Helper()
		out, errOut, code := runCmd(t, newConsortiumCmd(), "", args...)
		return out + errOut, code
	}
	prop := filepath.Join(dir, "rotate.json")
	out, code := run("propose", "--trust", trust, "--out", prop, "--rotate-key", "city/shenzhen", "--from-height", "20", "--note", "scheduled rotation")
	if code != 0 || !strings.Contains(out, "new key city/shenzhen/2") || !strings.Contains(out, "city/shenzhen") {
		t.Fatalf("propose: exit %d\n%s", code, out)
	}
	newKey := filepath.Join(dir, "city-shenzhen-2.key")
	if fi, err := os.Stat(newKey); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("new key file: %v", err)
	}
	check := func(want int, say string) {
		t.Helper()
		out, code := run("show", "--trust", trust, "--proposal", prop, "--height", "10")
		if code != want || !strings.Contains(out, say) {
			t.Fatalf("show --proposal: exit %d, want %d saying %q\n%s", code, want, say, out)
		}
	}
	check(1, "0 of the 5 orderers in force signed")
	for _, o := range []string{"hk", "macao", "qianhai", "hengqin"} {
		if out, code := run("sign", "--key", keys.OrdererKeyPath(dir, o), prop); code != 0 {
			t.Fatalf("sign as %s: %s", o, out)
		}
	}
	check(1, "proof of possession")
	if out, code := run("sign", "--key", newKey, prop); code != 0 {
		t.Fatal(out)
	}
	// Guangzhou cannot rotate Shenzhen's key.
	if out, code := run("sign", "--key", keys.CityKeyPath(dir, "guangzhou"), prop); code != 0 {
		t.Fatal(out)
	}
	check(1, "city/shenzhen's keys change without its signature")
	if out, code := run("sign", "--key", keys.CityKeyPath(dir, "shenzhen"), prop); code != 0 || !strings.Contains(out, "7 signatures") {
		t.Fatalf("sign as shenzhen: %s", out)
	}
	check(0, "would be accepted at height 10")
	raw, _ := os.ReadFile(prop)
	tx, err := config.Parse(raw)
	if err != nil || tx.Note != "scheduled rotation" {
		t.Fatalf("the proposal file: %v", err)
	}

	// A removed orderer's vote and a stale base: the ledger's words.
	prop2 := filepath.Join(dir, "remove.json")
	if out, code := run("propose", "--trust", trust, "--out", prop2, "--remove-orderer", "nansha"); code != 0 {
		t.Fatal(out)
	}
	next, err := config.Check(c.Bundle, tx, 10)
	if err != nil {
		t.Fatal(err)
	}
	raw2, _ := os.ReadFile(prop2)
	tx2, _ := config.Parse(raw2)
	if _, err := config.Check(next, tx2, 12); err == nil || !strings.Contains(err.Error(), "stale base") {
		t.Errorf("a proposal over the older configuration: %v", err)
	}

	out, code = run("show", "--trust", trust)
	for _, want := range []string{"orderers (5, quorum 4): hk, macao, qianhai, hengqin, nansha", "city/shenzhen/1", "genesis"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	if out, code := run("propose", "--trust", trust, "--out", prop2); code == 0 {
		t.Errorf("a proposal with no change: %s", out)
	}
	if out, code := run("propose", "--trust", trust, "--out", prop2, "--rotate-key", "mayor/shenzhen", "--from-height", "3"); code == 0 {
		t.Errorf("a rotation of an unknown role: %s", out)
	}
}
