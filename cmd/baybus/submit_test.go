package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baybus/baybus/ledger/node/nodetest"
	"github.com/baybus/baybus/schemas/bus"
	"github.com/baybus/baybus/schemas/keys"
)

// TestConsortiumSubmit is the whole flow on running orderers: propose a
// rotation of Shenzhen's key, sign it as the orderers, Shenzhen and the
// new key, submit it as Shenzhen's gateway over the query service; it is
// sealed alone, and show --data reads it back from an orderer's log. A
// proposal short of signatures is refused with exit status 1.
func TestConsortiumSubmit(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Listen: "127.0.0.1:-1"})
	c.WaitHeight(0)
	c.Issue("shenzhen", "SUBMIT-1")
	c.WaitHeight(1)
	dir := c.Cons.Dir
	trust := filepath.Join(dir, keys.TrustFile)
	work := t.TempDir()
	run := func(args ...string) (string, int) {
		t.Helper()
		out, errOut, code := runCmd(t, newConsortiumCmd(), "", args...)
		return out + errOut, code
	}
	creds := bus.SeedPath(dir, bus.IdentityName(bus.RoleCity, "shenzhen"))
	url := c.Bus.ClientURL()

	prop := filepath.Join(work, "rotate.json")
	if out, code := run("propose", "--trust", trust, "--out", prop, "--rotate-key", "city/shenzhen", "--from-height", "4"); code != 0 {
		t.Fatal(out)
	}
	if out, code := run("submit", "--trust", trust, "--nats", url, "--creds", creds, prop); code != 1 || !strings.Contains(out, "too few orderer signatures") {
		t.Fatalf("an unsigned proposal: exit %d\n%s", code, out)
	}
	for _, o := range c.Cons.Bundle().Orderers[:3] {
		if out, code := run("sign", "--key", keys.OrdererKeyPath(dir, o), prop); code != 0 {
			t.Fatal(out)
		}
	}
	for _, k := range []string{keys.CityKeyPath(dir, "shenzhen"), filepath.Join(work, "city-shenzhen-2.key")} {
		if out, code := run("sign", "--key", k, prop); code != 0 {
			t.Fatal(out)
		}
	}
	out, code := run("submit", "--trust", trust, "--nats", url, "--creds", creds, prop)
	if code != 0 || !strings.Contains(out, "submitted (5 signatures)") {
		t.Fatalf("submit: exit %d\n%s", code, out)
	}
	c.WaitHeight(2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := c.Nodes[0]
	if err := n.WaitHeight(ctx, 2); err != nil {
		t.Fatal(err)
	}
	n.Stop()
	chain := filepath.Join(work, "chain.json")
	out, code = run("show", "--trust", trust, "--data", filepath.Join(c.Dir, "orderers", n.Name()), "--chain-out", chain)
	if code != 0 || !strings.Contains(out, "block 2") || !strings.Contains(out, "city/shenzhen/2") {
		t.Fatalf("show --data: exit %d\n%s", code, out)
	}
	if fi, err := os.Stat(chain); err != nil || fi.Size() == 0 {
		t.Fatalf("the configuration chain file: %v", err)
	}
}
