package config_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportGraph: offline verifiers and the propose/sign tools follow
// the configuration chain with this package, so it links no NATS, no
// SmartBFT, no storage and no network code.
func TestImportGraph(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/baybus/baybus/schemas/config").CombinedOutput()
	if err != nil {
		t.Skipf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"nats-io", "SmartBFT", "cockroachdb", "tidwall", "net/http", "baybus/ledger"} {
			if strings.Contains(dep, banned) {
				t.Errorf("schemas/config depends on %s", dep)
			}
		}
	}
}
