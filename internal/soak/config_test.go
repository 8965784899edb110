package soak

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestRunRefusesUnknownFaultKind: a fault kind the soak does not know is
// refused before anything starts, naming the kinds it knows.
func TestRunRefusesUnknownFaultKind(t *testing.T) {
	sum, err := Run(context.Background(), Config{Faults: []string{FaultAll, "power"}, Dir: t.TempDir()})
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), `"power"`) || !strings.Contains(err.Error(), FaultLeader) {
		t.Fatalf("err %v, want ErrConfig naming the kind and the kinds", err)
	}
	if sum == nil || sum.OK || sum.Checks != 0 {
		t.Fatalf("summary %+v", sum)
	}
}
