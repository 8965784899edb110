package consortium_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baybus/baybus/schemas/consortium"
)

func newCA(t *testing.T, alg string, now func() time.Time) *consortium.CA {
	t.Helper()
	ca, err := consortium.NewCA("gba", consortium.CAConfig{Algorithm: alg, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func tlsCert(t *testing.T, iss *consortium.Issued) tls.Certificate {
	t.Helper()
	c, err := iss.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// handshake runs one TLS handshake over loopback TCP between a server with
// srvCfg and a client with cliCfg. It returns the client's error and what
// the server saw.
func handshake(t *testing.T, srvCfg, cliCfg *tls.Config) (cliErr error, state *tls.ConnectionState, srvErr error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		state *tls.ConnectionState
		err   error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			done <- result{err: err}
			return
		}
		// TLS 1.3 reports a refused client certificate only on the first
		// read; read the client's byte.
		if _, err := io.ReadFull(tc, make([]byte, 1)); err != nil {
			done <- result{err: err}
			return
		}
		st := tc.ConnectionState()
		done <- result{state: &st}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), cliCfg)
	if err == nil {
		_, err = c.Write([]byte{1})
		if err == nil {
			// The server's alert for a refused certificate arrives here.
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err = c.Read(make([]byte, 1))
			if errors.Is(err, io.EOF) {
				err = nil // the server read our byte and closed: accepted
			}
		}
		c.Close()
	}
	r := <-done
	return err, r.state, r.err
}

// TestCAMutualTLS: a client certificate from the consortium CA is accepted
// and names its holder; no certificate, or one from another CA, is refused;
// a client that trusts only another CA refuses the server.
func TestCAMutualTLS(t *testing.T) {
	for _, alg := range []string{consortium.CAECDSAP256, consortium.CAEd25519} {
		t.Run(alg, func(t *testing.T) {
			ca := newCA(t, alg, nil)
			other := newCA(t, alg, nil)
			srv, err := ca.Issue(consortium.CertSpec{Name: "gateway", Role: "server", Usage: consortium.UsageServer, Hosts: []string{"127.0.0.1", "localhost"}})
			if err != nil {
				t.Fatal(err)
			}
			city, err := ca.Issue(consortium.CertSpec{Name: "city-shenzhen", Role: "city", Usage: consortium.UsageClient})
			if err != nil {
				t.Fatal(err)
			}
			stranger, err := other.Issue(consortium.CertSpec{Name: "city-shenzhen", Role: "city", Usage: consortium.UsageClient})
			if err != nil {
				t.Fatal(err)
			}
			srvCfg := ca.ServerTLS(tlsCert(t, srv), true)
			cityCert, strangerCert := tlsCert(t, city), tlsCert(t, stranger)

			cliErr, st, srvErr := handshake(t, srvCfg, ca.ClientTLS(&cityCert))
			if cliErr != nil || srvErr != nil {
				t.Fatalf("consortium client refused: client %v, server %v", cliErr, srvErr)
			}
			id, err := consortium.PeerIdentityOf(st)
			if err != nil || id != (consortium.PeerIdentity{Name: "city-shenzhen", Role: "city"}) {
				t.Fatalf("peer identity %+v, %v", id, err)
			}

			for name, cli := range map[string]*tls.Config{
				"no certificate":           ca.ClientTLS(nil),
				"another CA's certificate": ca.ClientTLS(&strangerCert),
				"a server certificate":     ca.ClientTLS(new(tlsCert(t, srv))),
			} {
				cliErr, _, srvErr := handshake(t, srvCfg, cli)
				if srvErr == nil {
					t.Errorf("%s: server accepted the client", name)
				}
				if cliErr == nil {
					t.Errorf("%s: client saw no refusal", name)
				}
			}

			// The client trusts only the other CA: it refuses our server.
			cliErr, _, _ = handshake(t, srvCfg, other.ClientTLS(&strangerCert))
			var unknown x509.UnknownAuthorityError
			if !errors.As(cliErr, &unknown) {
				t.Errorf("client trusting another CA: %v, want an unknown authority error", cliErr)
			}

			// Optional client certificates: none is fine, a foreign one is not.
			opt := ca.ServerTLS(tlsCert(t, srv), false)
			if cliErr, st, srvErr := handshake(t, opt, ca.ClientTLS(nil)); cliErr != nil || srvErr != nil {
				t.Fatalf("optional client cert, none given: %v / %v", cliErr, srvErr)
			} else if _, err := consortium.PeerIdentityOf(st); !errors.Is(err, consortium.ErrNoPeerCert) {
				t.Errorf("PeerIdentityOf without a certificate: %v", err)
			}
			if _, _, srvErr := handshake(t, opt, ca.ClientTLS(&strangerCert)); srvErr == nil {
				t.Error("optional client cert: a foreign certificate was accepted")
			}
		})
	}
}

func TestIssueRefusesBadSpecs(t *testing.T) {
	ca := newCA(t, "", nil)
	for name, spec := range map[string]consortium.CertSpec{
		"no name":           {Usage: consortium.UsageClient},
		"name with a space": {Name: "city shenzhen", Usage: consortium.UsageClient},
		"name with a slash": {Name: "../ca", Usage: consortium.UsageClient},
		"no usage":          {Name: "x"},
		"server, no host":   {Name: "x", Usage: consortium.UsageServer},
		"empty host":        {Name: "x", Usage: consortium.UsageServer, Hosts: []string{" "}},
		"bad role":          {Name: "x", Role: "a/b", Usage: consortium.UsageClient},
	} {
		if _, err := ca.Issue(spec); !errors.Is(err, consortium.ErrCert) {
			t.Errorf("%s: %v, want ErrCert", name, err)
		}
	}
	if _, err := consortium.NewCA("gba", consortium.CAConfig{Algorithm: "RSA"}); !errors.Is(err, consortium.ErrCA) {
		t.Errorf("RSA CA: %v, want ErrCA", err)
	}
}

// TestLeafNeverOutlivesCA: a leaf asked for longer than the CA has left
// ends with the CA.
func TestLeafNeverOutlivesCA(t *testing.T) {
	ca, err := consortium.NewCA("gba", consortium.CAConfig{Validity: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := ca.Issue(consortium.CertSpec{Name: "x", Usage: consortium.UsageClient, Validity: 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !iss.Cert.NotAfter.Equal(ca.Certificate().NotAfter) {
		t.Fatalf("leaf ends %v, CA %v", iss.Cert.NotAfter, ca.Certificate().NotAfter)
	}
}

func TestCAWriteLoad(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, consortium.CAEd25519, nil)
	if err := ca.Write(dir); err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := consortium.CAPaths(dir)
	if fi, err := os.Stat(keyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key mode %v, %v; want 0600", fi.Mode(), err)
	}
	loaded, err := consortium.LoadCA(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.Certificate().Equal(ca.Certificate()) {
		t.Fatal("loaded CA differs")
	}
	// A certificate issued by the loaded CA verifies against the pool from
	// the written file.
	iss, err := loaded.Issue(consortium.CertSpec{Name: "nats", Usage: consortium.UsageServer | consortium.UsageClient, Hosts: []string{"nats.example"}})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := consortium.LoadCAPool(certPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := iss.Cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "nats.example", KeyUsages: []x509.ExtKeyUsage{u}}); err != nil {
			t.Fatalf("route certificate, usage %v: %v", u, err)
		}
	}

	other := newCA(t, consortium.CAECDSAP256, nil)
	otherKey := filepath.Join(t.TempDir(), "k")
	if err := other.Write(filepath.Dir(otherKey)); err != nil {
		t.Fatal(err)
	}
	_, otherKeyPath := consortium.CAPaths(filepath.Dir(otherKey))
	leaf, _ := ca.Issue(consortium.CertSpec{Name: "leaf", Usage: consortium.UsageClient})
	caPEM, _ := os.ReadFile(certPath)
	caKey, _ := os.ReadFile(keyPath)
	foreignKey, _ := os.ReadFile(otherKeyPath)
	for name, tc := range map[string]struct{ cert, key []byte }{
		"leaf as CA":       {leaf.CertPEM, leaf.KeyPEM},
		"mismatched key":   {caPEM, foreignKey},
		"no certificate":   {[]byte("hello"), caKey},
		"no key":           {caPEM, caPEM},
		"truncated cert":   {caPEM[:len(caPEM)/2], caKey},
		"garbage in block": {[]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), caKey},
	} {
		if _, err := consortium.ParseCA(tc.cert, tc.key, nil); !errors.Is(err, consortium.ErrCA) {
			t.Errorf("%s: %v, want ErrCA", name, err)
		}
	}
	if _, err := consortium.LoadCAPool(keyPath); !errors.Is(err, consortium.ErrCert) {
		t.Errorf("pool from a key file: %v", err)
	}
}

// TestEnsureCert: a stored certificate is reused across restarts, and
// replaced when it nears its end, lacks a host, or came from another CA.
func TestEnsureCert(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	ca := newCA(t, "", clock)
	spec := consortium.CertSpec{Name: "nats", Role: "server", Usage: consortium.UsageServer, Hosts: []string{"127.0.0.1"}}
	first, err := ca.EnsureCert(dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ca.EnsureCert(dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Cert.Equal(first.Cert) {
		t.Fatal("a valid stored certificate was replaced")
	}
	if _, keyPath := consortium.CertPaths(dir, "nats"); mode(t, keyPath) != 0o600 {
		t.Fatalf("key mode %v", mode(t, keyPath))
	}

	wider := spec
	wider.Hosts = []string{"127.0.0.1", "nats.example"}
	w, err := ca.EnsureCert(dir, wider)
	if err != nil {
		t.Fatal(err)
	}
	if w.Cert.Equal(first.Cert) || w.Cert.VerifyHostname("nats.example") != nil {
		t.Fatal("a certificate lacking a host was kept")
	}

	now = w.Cert.NotAfter.Add(-29 * 24 * time.Hour) // within 30 days of its end
	renewed, err := ca.EnsureCert(dir, wider)
	if err != nil {
		t.Fatal(err)
	}
	if renewed.Cert.Equal(w.Cert) || !renewed.Cert.NotAfter.After(w.Cert.NotAfter) {
		t.Fatal("a certificate near its end was kept")
	}

	other := newCA(t, "", clock)
	foreign, err := other.EnsureCert(dir, wider)
	if err != nil {
		t.Fatal(err)
	}
	if foreign.Cert.Equal(renewed.Cert) {
		t.Fatal("another CA reused this CA's certificate")
	}
	if _, err := foreign.Cert.Verify(x509.VerifyOptions{Roots: other.Pool(), CurrentTime: now}); err != nil {
		t.Fatalf("re-issued certificate: %v", err)
	}
}

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestPeerIdentityRefusesOddNames(t *testing.T) {
	if _, err := consortium.PeerIdentityOf(nil); !errors.Is(err, consortium.ErrNoPeerCert) {
		t.Fatal(err)
	}
	ca := newCA(t, "", nil)
	iss, _ := ca.Issue(consortium.CertSpec{Name: "ok", Usage: consortium.UsageClient})
	cert := *iss.Cert
	cert.Subject.CommonName = "a b"
	st := &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{&cert}}}
	if _, err := consortium.PeerIdentityOf(st); !errors.Is(err, consortium.ErrCert) {
		t.Fatalf("odd name: %v", err)
	}
}

// FuzzParseCA: whatever the files hold, ParseCA answers with a CA or an
// error wrapping ErrCA, never a panic; an accepted CA is a CA whose key
// signs what it issues.
func FuzzParseCA(f *testing.F) {
	ca, err := consortium.NewCA("gba", consortium.CAConfig{})
	if err != nil {
		f.Fatal(err)
	}
	dir := f.TempDir()
	if err := ca.Write(dir); err != nil {
		f.Fatal(err)
	}
	certPath, keyPath := consortium.CAPaths(dir)
	certPEM, _ := os.ReadFile(certPath)
	keyPEM, _ := os.ReadFile(keyPath)
	f.Add(certPEM, keyPEM)
	f.Add(certPEM[:40], keyPEM)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"), []byte("-----BEGIN EC PRIVATE KEY-----\nMAA=\n-----END EC PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, cert, key []byte) {
		got, err := consortium.ParseCA(cert, key, nil)
		if err != nil {
			if !errors.Is(err, consortium.ErrCA) {
				t.Fatalf("error %v does not wrap ErrCA", err)
			}
			return
		}
		if !got.Certificate().IsCA {
			t.Fatal("accepted a certificate that is not a CA")
		}
		if bytes.Equal(cert, certPEM) && !strings.Contains(string(key), "PRIVATE KEY") {
			t.Fatal("accepted a key file without a key")
		}
	})
}

// FuzzParseKeyPEM: never a panic; an error wraps ErrCert.
func FuzzParseKeyPEM(f *testing.F) {
	ca, _ := consortium.NewCA("gba", consortium.CAConfig{Algorithm: consortium.CAEd25519})
	iss, _ := ca.Issue(consortium.CertSpec{Name: "x", Usage: consortium.UsageClient})
	f.Add(iss.KeyPEM)
	f.Add(iss.CertPEM)
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if _, err := consortium.ParseKeyPEM(raw); err != nil && !errors.Is(err, consortium.ErrCert) {
			t.Fatalf("error %v does not wrap ErrCert", err)
		}
		if _, err := consortium.ParseCertPEM(raw); err != nil && !errors.Is(err, consortium.ErrCert) {
			t.Fatalf("error %v does not wrap ErrCert", err)
		}
	})
}
