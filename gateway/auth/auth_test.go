package auth_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baybus/baybus/gateway/auth"
	"github.com/baybus/baybus/schemas/consortium"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)} }

func bearer(tok string) *http.Request {
	r, _ := http.NewRequest(http.MethodGet, "http://gw/v1/tx/x", nil)
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return r
}

// TestTokenLifecycle: a token names its city and roles; a wrong secret,
// a malformed token, an expired and a revoked one are refused with their
// own reasons; a revocation made through another store on the same file
// (another process) takes effect within ReloadEvery.
func TestTokenLifecycle(t *testing.T) {
	clk := newClock()
	path := filepath.Join(t.TempDir(), "clients", "tokens.json")
	cfg := auth.TokenConfig{Now: clk.Now, ReloadEvery: time.Second}
	store, err := auth.OpenTokens(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tok, rec, err := store.Issue("shenzhen", []auth.Role{auth.RolePublish}, time.Hour, "samr")
	if err != nil {
		t.Fatal(err)
	}
	p, err := store.Authenticate(bearer(tok))
	if err != nil || p.City != "shenzhen" || !p.Has(auth.RolePublish) || p.Has(auth.RoleRead) || p.ID != rec.ID || p.Method != "token" {
		t.Fatalf("valid token: %+v, %v", p, err)
	}

	// The file keeps the hash, never the token, and only its owner reads it.
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	secret := tok[strings.LastIndex(tok, "_")+1:]
	if bytes.Contains(raw, []byte(secret)) {
		t.Fatal("the token file holds the token's secret")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v", fi.Mode().Perm())
	}

	wrongSecret := tok[:len(tok)-2] + "AA"
	if wrongSecret == tok {
		wrongSecret = tok[:len(tok)-2] + "BB"
	}
	for name, req := range map[string]*http.Request{
		"no header":    bearer(""),
		"wrong secret": bearer(wrongSecret),
		"malformed":    bearer("bbt_nothex_x"),
		"basic auth": func() *http.Request {
			r := bearer("")
			r.SetBasicAuth("shenzhen", tok)
			return r
		}(),
	} {
		if _, err := store.Authenticate(req); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("%s: %v, want ErrUnauthenticated", name, err)
		}
	}
	if _, err := store.Authenticate(bearer("")); !errors.Is(err, auth.ErrNoCredential) {
		t.Errorf("no header: %v, want ErrNoCredential", err)
	}

	// Revoked through another store on the same file, as another process
	// (`baybus gateway token revoke`) would.
	other, err := auth.OpenTokens(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Revoke(rec.ID); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Second)
	if _, err := store.Authenticate(bearer(tok)); !errors.Is(err, auth.ErrRevoked) || !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("revoked: %v", err)
	}
	if err := other.Revoke("0123456789abcdef"); !errors.Is(err, auth.ErrNoToken) {
		t.Fatalf("revoking an unknown id: %v", err)
	}

	// Expiry, exactly at the boundary.
	tok2, rec2, err := store.Issue("macao", []auth.Role{auth.RoleRead}, time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	clk.t = rec2.Expires.Add(-time.Nanosecond)
	if _, err := store.Check(tok2); err != nil {
		t.Fatalf("just before expiry: %v", err)
	}
	clk.t = rec2.Expires
	if _, err := store.Check(tok2); !errors.Is(err, auth.ErrExpired) {
		t.Fatalf("at expiry: %v", err)
	}
	recs, err := store.List()
	if err != nil || len(recs) != 2 || recs[0].Revoked == nil || recs[1].Revoked != nil {
		t.Fatalf("list: %+v, %v", recs, err)
	}
}

func TestAllow(t *testing.T) {
	p := &auth.Principal{ID: "x", City: "shenzhen", Roles: []auth.Role{auth.RolePublish}}
	for _, tc := range []struct {
		city string
		role auth.Role
		ok   bool
	}{
		{"shenzhen", auth.RolePublish, true},
		{"guangzhou", auth.RolePublish, false},
		{"shenzhen", auth.RoleRead, false},
		{"", auth.RolePublish, true},
		{"", auth.RoleRead, false},
	} {
		err := p.Allow(tc.city, tc.role)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, auth.ErrForbidden)) {
			t.Errorf("%s as %s: %v", tc.city, tc.role, err)
		}
	}
	var nobody *auth.Principal
	if err := nobody.Allow("", auth.RoleRead); !errors.Is(err, auth.ErrForbidden) {
		t.Fatalf("nil principal: %v", err)
	}
}

func TestBadTokenFiles(t *testing.T) {
	dir := t.TempDir()
	rec := `{"id":"0123456789abcdef","city":"shenzhen","roles":["publish"],"sha256":"` + strings.Repeat("a", 64) + `","created":"2026-01-01T00:00:00Z","expires":"2027-01-01T00:00:00Z"}`
	good := `{"version":1,"tokens":[` + rec + `]}`
	if _, err := auth.ParseTokenFile([]byte(good)); err != nil {
		t.Fatalf("good file: %v", err)
	}
	for name, body := range map[string]string{
		"not json":      `{`,
		"version":       `{"version":2,"tokens":[]}`,
		"unknown field": `{"version":1,"tokens":[],"x":1}`,
		"bad id":        strings.Replace(good, "0123456789abcdef", "0123", 1),
		"bad city":      strings.Replace(good, "shenzhen", "taipei", 1),
		"bad role":      strings.Replace(good, `"publish"`, `"admin"`, 1),
		"no role":       strings.Replace(good, `["publish"]`, `[]`, 1),
		"bad hash":      strings.Replace(good, strings.Repeat("a", 64), "aa", 1),
		"no expiry":     strings.Replace(good, `,"expires":"2027-01-01T00:00:00Z"`, ``, 1),
		"twice":         `{"version":1,"tokens":[` + rec + `,` + rec + `]}`,
	} {
		path := filepath.Join(dir, name+".json")
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := auth.OpenTokens(path, auth.TokenConfig{}); !errors.Is(err, auth.ErrTokenFile) {
			t.Errorf("%s: %v, want ErrTokenFile", name, err)
		}
	}
}

// TestDevTokens: one token per city, kept across calls while it
// authenticates, replaced once revoked.
func TestDevTokens(t *testing.T) {
	dir := t.TempDir()
	cities := []string{"shenzhen", "macao"}
	clients, err := auth.EnsureDevTokens(dir, cities, auth.TokenConfig{})
	if err != nil || clients != filepath.Join(dir, auth.ClientsDir) {
		t.Fatalf("%s %v", clients, err)
	}
	read := func(city string) string {
		raw, err := os.ReadFile(auth.DevTokenPath(dir, city))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(raw))
	}
	store, err := auth.OpenTokens(auth.TokenPath(dir), auth.TokenConfig{ReloadEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	sz := read("shenzhen")
	p, err := store.Check(sz)
	if err != nil || p.City != "shenzhen" || !p.Has(auth.RolePublish) || !p.Has(auth.RoleRead) {
		t.Fatalf("dev token: %+v %v", p, err)
	}
	if _, err := auth.EnsureDevTokens(dir, cities, auth.TokenConfig{}); err != nil || read("shenzhen") != sz {
		t.Fatalf("second call changed a working token (%v)", err)
	}
	if err := store.Revoke(p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.EnsureDevTokens(dir, cities, auth.TokenConfig{}); err != nil {
		t.Fatal(err)
	}
	if again := read("shenzhen"); again == sz {
		t.Fatal("a revoked dev token was kept")
	} else if _, err := store.Check(again); err != nil {
		t.Fatalf("replacement: %v", err)
	}
}

// TestClientCertificates: a certificate issued for a city system names its
// city and roles; one without a city, or without roles, identifies no one.
func TestClientCertificates(t *testing.T) {
	ca, err := consortium.NewCA("gba-test", consortium.CAConfig{})
	if err != nil {
		t.Fatal(err)
	}
	state := func(iss *consortium.Issued) *http.Request {
		r := bearer("")
		r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{iss.Cert}}}
		return r
	}
	iss, err := auth.IssueClientCert(ca, "hongkong", "cr", []auth.Role{auth.RoleRead, auth.RolePublish})
	if err != nil {
		t.Fatal(err)
	}
	p, err := (auth.CertAuth{}).Authenticate(state(iss))
	if err != nil || p.City != "hongkong" || !p.Has(auth.RolePublish) || !p.Has(auth.RoleRead) || p.Method != "certificate" {
		t.Fatalf("%+v %v", p, err)
	}
	// Chain prefers the certificate when there is one, the token otherwise.
	if p, err := (auth.Chain{Certs: &auth.CertAuth{}}).Authenticate(state(iss)); err != nil || p.City != "hongkong" {
		t.Fatalf("chain: %+v %v", p, err)
	}
	if _, err := (auth.Chain{Certs: &auth.CertAuth{}}).Authenticate(bearer("")); !errors.Is(err, auth.ErrNoCredential) {
		t.Fatalf("chain without credential: %v", err)
	}
	for name, spec := range map[string]consortium.CertSpec{
		"no city":  {Name: "city-shenzhen", Role: "publish", Usage: consortium.UsageClient},
		"no roles": {Name: "shenzhen.x", Usage: consortium.UsageClient},
		"orderer":  {Name: "shenzhen", Role: "orderer", Usage: consortium.UsageClient},
	} {
		bad, err := ca.Issue(spec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := (auth.CertAuth{}).Authenticate(state(bad)); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := (auth.CertAuth{}).Authenticate(bearer("")); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("no certificate: %v", err)
	}
}

// FuzzParseTokenFile: a token file never panics the decoder, and what it
// accepts checks tokens without panicking.
func FuzzParseTokenFile(f *testing.F) {
	f.Add([]byte(`{"version":1,"tokens":[{"id":"0123456789abcdef","city":"shenzhen","roles":["publish"],"sha256":"`+strings.Repeat("a", 64)+`","created":"2026-01-01T00:00:00Z","expires":"2027-01-01T00:00:00Z"}]}`), "bbt_0123456789abcdef_"+strings.Repeat("A", 43))
	f.Add([]byte(`{"version":1,"tokens":[]}`), "bbt__")
	f.Fuzz(func(t *testing.T, raw []byte, token string) {
		recs, err := auth.ParseTokenFile(raw)
		if err != nil {
			if !errors.Is(err, auth.ErrTokenFile) {
				t.Fatalf("error %v does not wrap ErrTokenFile", err)
			}
			return
		}
		path := filepath.Join(t.TempDir(), "tokens.json")
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		store, err := auth.OpenTokens(path, auth.TokenConfig{})
		if err != nil {
			t.Fatalf("parsed %d records but OpenTokens: %v", len(recs), err)
		}
		if p, err := store.Check(token); err == nil {
			t.Fatalf("a fuzzed token authenticated: %+v", p)
		}
	})
}

// TestReaderCredentials: a named reader's token and certificate read and
// do nothing else; the token file refuses a reader that would publish.
func TestReaderCredentials(t *testing.T) {
	store, err := auth.OpenTokens(filepath.Join(t.TempDir(), "tokens.json"), auth.TokenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	tok, rec, err := store.IssueReader("hk-bank", time.Hour, "")
	if err != nil || rec.Reader != "hk-bank" || rec.City != "" {
		t.Fatalf("%+v %v", rec, err)
	}
	p, err := store.Check(tok)
	if err != nil || p.Reader != "hk-bank" || p.City != "" || !p.Has(auth.RoleRead) || p.Has(auth.RolePublish) {
		t.Fatalf("%+v %v", p, err)
	}
	if err := p.Allow("", auth.RoleRead); err != nil {
		t.Fatal(err)
	}
	if err := p.Allow("shenzhen", auth.RolePublish); !errors.Is(err, auth.ErrForbidden) || !strings.Contains(err.Error(), "reader hk-bank") {
		t.Fatalf("a reader publishing: %v", err)
	}
	if _, _, err := store.IssueReader("HK Bank", time.Hour, ""); err == nil {
		t.Fatal("a malformed reader name was accepted")
	}
	base := `"sha256":"` + strings.Repeat("a", 64) + `","created":"2026-01-01T00:00:00Z","expires":"2027-01-01T00:00:00Z"`
	for name, rec := range map[string]string{
		"reader publishing": `{"id":"0123456789abcdef","reader":"hk-bank","roles":["publish","read"],` + base + `}`,
		"city and reader":   `{"id":"0123456789abcdef","city":"macao","reader":"hk-bank","roles":["read"],` + base + `}`,
		"neither":           `{"id":"0123456789abcdef","roles":["read"],` + base + `}`,
	} {
		if _, err := auth.ParseTokenFile([]byte(`{"version":1,"tokens":[` + rec + `]}`)); !errors.Is(err, auth.ErrTokenFile) {
			t.Errorf("%s: %v", name, err)
		}
	}
	ca, err := consortium.NewCA("gba-test", consortium.CAConfig{})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := auth.IssueReaderCert(ca, "hk-bank")
	if err != nil {
		t.Fatal(err)
	}
	r := bearer("")
	r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{iss.Cert}}}
	if p, err := (auth.CertAuth{}).Authenticate(r); err != nil || p.Reader != "hk-bank" || p.Has(auth.RolePublish) {
		t.Fatalf("reader certificate: %+v %v", p, err)
	}
}
