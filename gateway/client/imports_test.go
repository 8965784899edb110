package client_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportGraph keeps the client a client: it links the standard library
// and gateway/api, nothing else (no NATS, no ledger, no server).
func TestImportGraph(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/baybus/baybus/gateway/client").CombinedOutput()
	if err != nil {
		t.Skipf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		first, _, _ := strings.Cut(dep, "/")
		switch {
		case dep == "github.com/baybus/baybus/gateway/api", dep == "github.com/baybus/baybus/gateway/client":
		case strings.Contains(first, "."): // a module outside the standard library
			t.Errorf("gateway/client depends on %s", dep)
		}
	}
}
