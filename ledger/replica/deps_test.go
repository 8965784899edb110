package replica_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestReplicaIsPure pins the replica's import graph: SmartBFT's types and
// the block log, never the network (NATS client or server, the transport
// in ledger/bft), the pebble stores or the driver (issue 12 §5).
func TestReplicaIsPure(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/baybus/baybus/ledger/replica").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	banned := []string{"nats-io/", "cockroachdb/pebble", "baybus/ledger/bft\n", "baybus/ledger/orderer\n", "baybus/ledger/blocksync\n", "SmartBFT/pkg/consensus\n", "SmartBFT/internal/"}
	required := map[string]bool{"hyperledger-labs/SmartBFT/pkg/api": false, "baybus/ledger/blocklog": false}
	for _, dep := range deps {
		for _, b := range banned {
			if strings.Contains(dep+"\n", b) {
				t.Errorf("ledger/replica links %s", dep)
			}
		}
		for r := range required {
			if strings.HasSuffix(dep, r) {
				required[r] = true
			}
		}
	}
	for r, ok := range required {
		if !ok {
			t.Fatalf("ledger/replica does not link %s: the graph read is not the package's (%d deps)", r, len(deps))
		}
	}
}
