package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/baybus/baybus/schemas/keys"
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

// TestDemoSM2 is issue 14's "an SM2 consortium end to end (demo --scheme
// SM2)": every key SM2 (GB/T 32918 over SM3), events sealed and their
// proofs re-verified.
func TestDemoSM2(t *testing.T) {
	var out bytes.Buffer
	dir := t.TempDir()
	cmd := newRootCmd()
	cmd.SetArgs([]string{"demo", "--scheme", "SM2", "--events", "22", "--orderers", "4", "--log-level", "error", "--data", dir})
	cmd.SetOut(&out)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("demo --scheme SM2 failed: %v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{"22 events from 11 cities", "sealed:    22 transactions", "verified:  hongkong", "verified:  hengqin"} {
		if !strings.Contains(s, want) {
			t.Fatalf("output lacks %q:\n%s", want, s)
		}
	}
	trust, err := keys.LoadBundle(filepath.Join(dir, keys.TrustFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range trust.Keys {
		if k.Scheme != keys.SM2 {
			t.Errorf("key %s is %s, want SM2", k.ID, k.Scheme)
		}
	}
	if len(trust.Keys) < 15 {
		t.Fatalf("%d keys in the trust bundle", len(trust.Keys))
	}
}
