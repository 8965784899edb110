package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestDemo runs `baybus demo` end to end on a small load: native events
// from all eleven cities through HTTP, sealed by four orderers, re-verified.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	cmd := newRootCmd()
	cmd.SetArgs([]string{"demo", "--events", "66", "--orderers", "4", "--log-level", "error", "--data", t.TempDir()})
	cmd.SetOut(&out)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{"66 events from 11 cities", "sealed:    66 transactions", "verified:  hongkong", "verified:  hengqin"} {
		if !strings.Contains(s, want) {
			t.Fatalf("output lacks %q:\n%s", want, s)
		}
	}
}
