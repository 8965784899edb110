package query_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportGraph keeps the client light for a gateway or a reader in
// another process: nats.go, but no NATS server, no SmartBFT, no pebble,
// nothing of the node.
func TestImportGraph(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/baybus/baybus/ledger/query").CombinedOutput()
	if err != nil {
		t.Skipf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"nats-server", "SmartBFT", "cockroachdb", "baybus/ledger/orderer", "baybus/ledger/node", "baybus/ledger/state\n", "baybus/internal/"} {
			if strings.Contains(dep+"\n", banned) {
				t.Errorf("ledger/query depends on %s", dep)
			}
		}
	}
}
