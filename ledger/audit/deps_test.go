package audit_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestOfflineReadersLinkNoServer pins the import graph of the packages an
// auditor, a reconciliation job or a proof verifier runs on a copy of the
// data, away from the cluster: they must link neither the NATS server nor
// SmartBFT (issue 12 §1). reconcile and blocksync read the chain over the
// bus too, so they may link the NATS client; the others not even that.
func TestOfflineReadersLinkNoServer(t *testing.T) {
	for _, tc := range []struct {
		pkg      string
		banned   []string
		required string // a dependency the package must still have, so the test sees a real graph
	}{
		{"ledger/audit", []string{"nats-io/", "SmartBFT"}, "baybus/ledger/blocklog"},
		{"ledger/blocklog", []string{"nats-io/", "SmartBFT"}, "baybus/ledger/wal"},
		{"ledger/proof", []string{"nats-io/", "SmartBFT"}, "baybus/ledger/block"},
		{"ledger/reconcile", []string{"nats-io/nats-server", "SmartBFT", "baybus/gateway", "baybus/ledger/orderer", "baybus/ledger/bft\n"}, "nats-io/nats.go"},
		{"ledger/blocksync", []string{"nats-io/nats-server", "SmartBFT", "baybus/ledger/orderer", "baybus/ledger/bft\n"}, "nats-io/nats.go"},
	} {
		t.Run(tc.pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", "github.com/baybus/baybus/"+tc.pkg).CombinedOutput()
			if err != nil {
				t.Fatalf("go list: %v\n%s", err, out)
			}
			deps := strings.Fields(string(out))
			found := false
			for _, dep := range deps {
				for _, banned := range tc.banned {
					if strings.Contains(dep+"\n", banned) {
						t.Errorf("%s links %s", tc.pkg, dep)
					}
				}
				found = found || strings.Contains(dep, tc.required)
			}
			if !found {
				t.Fatalf("%s does not link %s: the graph read is not the package's (%d deps)", tc.pkg, tc.required, len(deps))
			}
		})
	}
}
