package main

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/baybus/baybus/schemas/consortium"
	"github.com/baybus/baybus/schemas/keys"
)

// runBaybus runs the root command with args and returns its output.
func runBaybus(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

// TestKeysCert: keys init makes the CA; keys cert issues server and client
// certificates from it and refuses a certificate without a usage.
func TestKeysCert(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	if out, err := runBaybus(t, "keys", "init", "--dir", dir, "--orderers", "4"); err != nil {
		t.Fatalf("keys init: %v\n%s", err, out)
	}
	ca, err := consortium.LoadCA(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := runBaybus(t, "keys", "cert", "--dir", dir, "--name", "nats", "--server", "--client", "--host", "127.0.0.1,nats.gba.example"); err != nil {
		t.Fatalf("keys cert: %v\n%s", err, out)
	}
	if out, err := runBaybus(t, "keys", "cert", "--dir", dir, "--name", "city-shenzhen", "--role", "city", "--client"); err != nil {
		t.Fatalf("keys cert: %v\n%s", err, out)
	}
	pool, err := consortium.LoadCAPool(filepath.Join(dir, "tls", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]x509.ExtKeyUsage{"nats": x509.ExtKeyUsageServerAuth, "city-shenzhen": x509.ExtKeyUsageClientAuth} {
		certPath, keyPath := consortium.CertPaths(dir, name)
		iss, err := ca.EnsureCert(dir, consortium.CertSpec{Name: name, Usage: consortium.UsageClient})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := iss.Cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{want}}); err != nil {
			t.Errorf("%s (%s, %s): %v", name, certPath, keyPath, err)
		}
	}
	if _, err := runBaybus(t, "keys", "cert", "--dir", dir, "--name", "x"); err == nil || !strings.Contains(err.Error(), "--client") {
		t.Fatalf("no usage: %v", err)
	}
	if _, err := runBaybus(t, "keys", "cert", "--dir", dir, "--name", "x", "--server"); err == nil || !strings.Contains(err.Error(), "host") {
		t.Fatalf("server without host: %v", err)
	}
}

// TestKeysInitMixedSchemes: keys init with per-role schemes makes a
// consortium whose cities sign with SM2 and orderers with Ed25519; an
// unknown scheme is refused before anything is replaced.
func TestKeysInitMixedSchemes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	if out, err := runBaybus(t, "keys", "init", "--dir", dir, "--orderers", "4", "--city-scheme", "SM2"); err != nil {
		t.Fatalf("keys init: %v\n%s", err, out)
	}
	b, err := keys.LoadBundle(filepath.Join(dir, keys.TrustFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range b.Keys {
		want := keys.Ed25519
		if k.Role == keys.RoleCity {
			want = keys.SM2
		}
		if k.Scheme != want {
			t.Errorf("%s: %s, want %s", k.ID, k.Scheme, want)
		}
	}
	before, _ := os.ReadFile(filepath.Join(dir, keys.TrustFile))
	if _, err := runBaybus(t, "keys", "init", "--dir", dir, "--force", "--orderer-scheme", "SM9"); err == nil {
		t.Fatal("an unknown scheme was accepted")
	}
	if after, _ := os.ReadFile(filepath.Join(dir, keys.TrustFile)); !bytes.Equal(before, after) {
		t.Fatal("a refused init replaced the consortium")
	}
}
