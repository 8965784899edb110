package consortium

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/baybus/baybus/schemas/keys"
)

// The consortium CA: one certificate authority per consortium, kept in the
// consortium directory beside the trust bundle, that issues the TLS
// certificates of everything that leaves the host: NATS client ports,
// cluster routes and gateway connections, the gateways' HTTPS listeners,
// and the client certificates city systems, orderers and readers present
// for mutual TLS.
//
//	tls/ca.crt          the CA certificate (PEM); every client trusts it
//	tls/ca.key          the CA's private key (PKCS #8 PEM, 0600)
//	tls/<name>.crt/.key certificates issued by EnsureCert (key 0600)
//
// A client certificate names its holder in the subject: CommonName the
// holder (a bus identity name such as "city-shenzhen" or
// "reader-hk-bank", or any name the operator chooses) and
// OrganizationalUnit its role ("city", "orderer", "reader", ...), so a
// server that verified the chain reads who is calling with PeerIdentity.

// TLSDir is the folder of the CA and issued certificates inside a
// consortium directory.
const TLSDir = "tls"

// CA algorithms.
const (
	CAECDSAP256 = "ECDSA-P256" // default: every TLS client accepts it
	CAEd25519   = "Ed25519"
)

// Errors of the CA.
var (
	// ErrCA is wrapped by every error about a malformed CA certificate or
	// key (a file that is not PEM, not a CA, a key that does not match).
	ErrCA = errors.New("consortium: bad CA")
	// ErrCert is wrapped by errors about an issued certificate or its
	// request.
	ErrCert = errors.New("consortium: bad certificate")
	// ErrNoPeerCert is returned by PeerIdentity for a connection without a
	// verified client certificate.
	ErrNoPeerCert = errors.New("consortium: no verified client certificate")
)

// CAConfig tunes NewCA. The zero value is usable.
type CAConfig struct {
	// Algorithm of the CA key and of the keys it issues: CAECDSAP256
	// (default) or CAEd25519.
	Algorithm string
	// Validity of the CA certificate; default 10 years.
	Validity time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// CA is a consortium's certificate authority. It is safe for concurrent
// use: nothing in it changes after NewCA or LoadCA.
type CA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer
	alg     string
	now     func() time.Time
}

// NewCA creates a CA for the consortium of chain. Keys come from
// crypto/rand (since Go 1.26 the standard library ignores any other
// source).
func NewCA(chain string, cfg CAConfig) (*CA, error) {
	if cfg.Algorithm == "" {
		cfg.Algorithm = CAECDSAP256
	}
	if cfg.Validity == 0 {
		cfg.Validity = 10 * 365 * 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	key, err := newKey(cfg.Algorithm)
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := cfg.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "baybus consortium CA " + chain, Organization: []string{"baybus " + chain}},
		NotBefore:             now.Add(-time.Hour), // tolerate clocks a little behind
		NotAfter:              now.Add(cfg.Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // issues leaves only
		SubjectKeyId:          keyID(key.Public()),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("consortium: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("consortium: parse CA certificate: %w", err)
	}
	return &CA{cert: cert, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), key: key, alg: cfg.Algorithm, now: cfg.Now}, nil
}

func newKey(alg string) (crypto.Signer, error) {
	switch alg {
	case CAECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case CAEd25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("%w: algorithm %q (use %s or %s)", ErrCA, alg, CAECDSAP256, CAEd25519)
}

func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("consortium: serial: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil // never zero
}

// keyID is the SHA-256 of the public key's DER, cut to 20 bytes.
func keyID(pub crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil
	}
	sum := sha256.Sum256(der)
	return sum[:20]
}

// ParseCA decodes a CA from its certificate and private key, both PEM. It
// checks that the certificate is a CA and that the key is its key.
func ParseCA(certPEM, keyPEM []byte, now func() time.Time) (*CA, error) {
	cert, err := ParseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCA, err)
	}
	if !cert.IsCA || !cert.BasicConstraintsValid || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("%w: certificate %q is not a CA", ErrCA, cert.Subject.CommonName)
	}
	key, err := ParseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCA, err)
	}
	if !samePublic(cert.PublicKey, key.Public()) {
		return nil, fmt.Errorf("%w: key does not match certificate %q", ErrCA, cert.Subject.CommonName)
	}
	alg := CAECDSAP256
	if _, ok := key.(ed25519.PrivateKey); ok {
		alg = CAEd25519
	}
	if now == nil {
		now = time.Now
	}
	return &CA{cert: cert, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), key: key, alg: alg, now: now}, nil
}

func samePublic(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

// ParseCertPEM decodes the first certificate of a PEM file. Anything
// before it is ignored; a file without one is an error.
func ParseCertPEM(raw []byte) (*x509.Certificate, error) {
	for {
		var b *pem.Block
		b, raw = pem.Decode(raw)
		if b == nil {
			return nil, fmt.Errorf("%w: no PEM CERTIFICATE block", ErrCert)
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCert, err)
		}
		return cert, nil
	}
}

// ParseKeyPEM decodes a PKCS #8 private key ("PRIVATE KEY"), or an SEC 1
// ECDSA key ("EC PRIVATE KEY") as other tools write them. Only ECDSA and
// Ed25519 keys are accepted.
func ParseKeyPEM(raw []byte) (crypto.Signer, error) {
	for {
		var b *pem.Block
		b, raw = pem.Decode(raw)
		if b == nil {
			return nil, fmt.Errorf("%w: no PEM private key block", ErrCert)
		}
		var (
			k   any
			err error
		)
		switch b.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(b.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: private key: %w", ErrCert, err)
		}
		switch k := k.(type) {
		case *ecdsa.PrivateKey:
			return k, nil
		case ed25519.PrivateKey:
			return k, nil
		}
		return nil, fmt.Errorf("%w: private key of type %T (want ECDSA or Ed25519)", ErrCert, k)
	}
}

func marshalKeyPEM(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("consortium: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// CAPaths returns where a consortium directory keeps its CA.
func CAPaths(dir string) (cert, key string) {
	return filepath.Join(dir, TLSDir, "ca.crt"), filepath.Join(dir, TLSDir, "ca.key")
}

// CertPaths returns where EnsureCert keeps the certificate called name.
func CertPaths(dir, name string) (cert, key string) {
	return filepath.Join(dir, TLSDir, name+".crt"), filepath.Join(dir, TLSDir, name+".key")
}

// Write stores the CA in dir/tls: the certificate 0644, the key 0600.
func (ca *CA) Write(dir string) error {
	certPath, keyPath := CAPaths(dir)
	if err := os.MkdirAll(filepath.Dir(certPath), 0o700); err != nil {
		return fmt.Errorf("consortium: %w", err)
	}
	keyPEM, err := marshalKeyPEM(ca.key)
	if err != nil {
		return err
	}
	if err := keys.WriteFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return fmt.Errorf("consortium: %w", err)
	}
	if err := keys.WriteFileAtomic(certPath, ca.certPEM, 0o644); err != nil {
		return fmt.Errorf("consortium: %w", err)
	}
	return nil
}

// LoadCA reads the CA kept in a consortium directory.
func LoadCA(dir string, now func() time.Time) (*CA, error) {
	certPath, keyPath := CAPaths(dir)
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("consortium: %w", err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("consortium: %w", err)
	}
	ca, err := ParseCA(certPEM, keyPEM, now)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, certPath)
	}
	return ca, nil
}

// LoadCAPool reads a PEM file of CA certificates (the consortium's
// tls/ca.crt, or an operator's bundle) into a pool.
func LoadCAPool(path string) (*x509.CertPool, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("consortium: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(raw) {
		return nil, fmt.Errorf("%w: %s holds no PEM certificate", ErrCert, path)
	}
	return pool, nil
}

// Certificate returns the CA certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// CertPEM returns the CA certificate as PEM.
func (ca *CA) CertPEM() []byte { return bytes.Clone(ca.certPEM) }

// Pool returns a pool holding only this CA: what servers verify client
// certificates against and clients verify servers against.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// Usage says what an issued certificate is for.
type Usage int

// Usages; a route between NATS servers needs both (each side dials).
const (
	UsageServer Usage = 1 << iota // TLS server authentication
	UsageClient                   // TLS client authentication
)

// CertSpec describes a certificate to issue.
type CertSpec struct {
	// Name is the holder: the subject's CommonName (required; letters,
	// digits, '-', '_' and '.').
	Name string
	// Role, if set, is the subject's OrganizationalUnit ("city",
	// "orderer", "reader", "operator", "server", ...).
	Role  string
	Usage Usage
	// Hosts are the DNS names and IP addresses a server certificate is
	// valid for (required with UsageServer).
	Hosts []string
	// Validity defaults to 397 days (what public CAs may issue at most).
	Validity time.Duration
}

// Issued is an issued certificate with its private key.
type Issued struct {
	Cert    *x509.Certificate
	CertPEM []byte // the leaf, then the CA certificate
	KeyPEM  []byte
}

// TLSCertificate returns the pair for a tls.Config.
func (i *Issued) TLSCertificate() (tls.Certificate, error) {
	c, err := tls.X509KeyPair(i.CertPEM, i.KeyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: %w", ErrCert, err)
	}
	return c, nil
}

// Write stores the certificate chain (0644) and key (0600).
func (i *Issued) Write(certPath, keyPath string) error {
	if err := keys.WriteFileAtomic(keyPath, i.KeyPEM, 0o600); err != nil {
		return fmt.Errorf("consortium: %w", err)
	}
	if err := keys.WriteFileAtomic(certPath, i.CertPEM, 0o644); err != nil {
		return fmt.Errorf("consortium: %w", err)
	}
	return nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// Issue makes a certificate signed by the CA, with a fresh key of the
// CA's algorithm.
func (ca *CA) Issue(spec CertSpec) (*Issued, error) {
	if !validName(spec.Name) {
		return nil, fmt.Errorf("%w: name %q: want 1 to 64 letters, digits, '-', '_' or '.'", ErrCert, spec.Name)
	}
	if spec.Role != "" && !validName(spec.Role) {
		return nil, fmt.Errorf("%w: role %q: want 1 to 64 letters, digits, '-', '_' or '.'", ErrCert, spec.Role)
	}
	if spec.Usage&(UsageServer|UsageClient) == 0 {
		return nil, fmt.Errorf("%w: %s: no usage (server, client or both)", ErrCert, spec.Name)
	}
	if spec.Usage&UsageServer != 0 && len(spec.Hosts) == 0 {
		return nil, fmt.Errorf("%w: %s: a server certificate needs at least one host", ErrCert, spec.Name)
	}
	if spec.Validity == 0 {
		spec.Validity = 397 * 24 * time.Hour
	}
	now := ca.now()
	notAfter := now.Add(spec.Validity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter // a leaf never outlives its CA
	}
	key, err := newKey(ca.alg)
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: spec.Name, Organization: ca.cert.Subject.Organization},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		SubjectKeyId: keyID(key.Public()),
	}
	if spec.Role != "" {
		tmpl.Subject.OrganizationalUnit = []string{spec.Role}
	}
	if _, ok := key.(*ecdsa.PrivateKey); ok {
		tmpl.KeyUsage |= x509.KeyUsageKeyAgreement
	}
	if spec.Usage&UsageServer != 0 {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if spec.Usage&UsageClient != 0 {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	for _, h := range spec.Hosts {
		h = strings.TrimSpace(h)
		switch {
		case h == "":
			return nil, fmt.Errorf("%w: %s: empty host", ErrCert, spec.Name)
		case net.ParseIP(h) != nil:
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(h))
		default:
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCert, spec.Name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCert, spec.Name, err)
	}
	keyPEM, err := marshalKeyPEM(key)
	if err != nil {
		return nil, err
	}
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), ca.certPEM...)
	return &Issued{Cert: cert, CertPEM: chain, KeyPEM: keyPEM}, nil
}

// renewBefore is how long before its end EnsureCert replaces a
// certificate.
const renewBefore = 30 * 24 * time.Hour

// EnsureCert returns the certificate called name kept in dir/tls, issuing
// (and writing) a new one when there is none, or when the one there was
// not issued by this CA, does not cover spec's hosts and usage, or ends
// within 30 days. Restarts reuse the certificate, so clients that pinned
// it keep working.
func (ca *CA) EnsureCert(dir string, spec CertSpec) (*Issued, error) {
	certPath, keyPath := CertPaths(dir, spec.Name)
	if certPEM, err := os.ReadFile(certPath); err == nil {
		if keyPEM, err := os.ReadFile(keyPath); err == nil {
			if iss, ok := ca.reusable(certPEM, keyPEM, spec); ok {
				return iss, nil
			}
		}
	}
	iss, err := ca.Issue(spec)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(certPath), 0o700); err != nil {
		return nil, fmt.Errorf("consortium: %w", err)
	}
	if err := iss.Write(certPath, keyPath); err != nil {
		return nil, err
	}
	return iss, nil
}

// reusable reports whether a stored certificate still serves spec.
func (ca *CA) reusable(certPEM, keyPEM []byte, spec CertSpec) (*Issued, bool) {
	cert, err := ParseCertPEM(certPEM)
	if err != nil {
		return nil, false
	}
	key, err := ParseKeyPEM(keyPEM)
	if err != nil || !samePublic(cert.PublicKey, key.Public()) {
		return nil, false
	}
	if cert.Subject.CommonName != spec.Name || (spec.Role != "" && !slices.Equal(cert.Subject.OrganizationalUnit, []string{spec.Role})) {
		return nil, false
	}
	usage := x509.ExtKeyUsageAny
	switch {
	case spec.Usage&UsageServer != 0:
		usage = x509.ExtKeyUsageServerAuth
	case spec.Usage&UsageClient != 0:
		usage = x509.ExtKeyUsageClientAuth
	}
	now := ca.now()
	if now.Add(renewBefore).After(cert.NotAfter) {
		return nil, false
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return nil, false
	}
	if spec.Usage&UsageClient != 0 && !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		return nil, false
	}
	for _, h := range spec.Hosts {
		if cert.VerifyHostname(strings.TrimSpace(h)) != nil {
			return nil, false
		}
	}
	return &Issued{Cert: cert, CertPEM: certPEM, KeyPEM: keyPEM}, true
}

// ServerTLS returns a server configuration presenting cert. With
// requireClientCert, a client must present a certificate issued by this
// CA (mutual TLS); without, client certificates issued by it are verified
// when offered, and PeerIdentity reads them.
func (ca *CA) ServerTLS(cert tls.Certificate, requireClientCert bool) *tls.Config {
	auth := tls.VerifyClientCertIfGiven
	if requireClientCert {
		auth = tls.RequireAndVerifyClientCert
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientCAs:    ca.Pool(),
		ClientAuth:   auth,
	}
}

// ClientTLS returns a client configuration that trusts only this CA and,
// with cert non-nil, presents it.
func (ca *CA) ClientTLS(cert *tls.Certificate) *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: ca.Pool()}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}

// PeerIdentity is who a verified client certificate names.
type PeerIdentity struct {
	Name string // subject CommonName
	Role string // subject OrganizationalUnit, "" if none
}

// PeerIdentityOf reads the holder of a connection's verified client
// certificate (state.VerifiedChains, which only a server that verified
// the chain fills). It returns ErrNoPeerCert without one.
func PeerIdentityOf(state *tls.ConnectionState) (PeerIdentity, error) {
	if state == nil || len(state.VerifiedChains) == 0 || len(state.VerifiedChains[0]) == 0 {
		return PeerIdentity{}, ErrNoPeerCert
	}
	leaf := state.VerifiedChains[0][0]
	id := PeerIdentity{Name: leaf.Subject.CommonName}
	if len(leaf.Subject.OrganizationalUnit) == 1 {
		id.Role = leaf.Subject.OrganizationalUnit[0]
	}
	if !validName(id.Name) {
		return PeerIdentity{}, fmt.Errorf("%w: client certificate names %q", ErrCert, id.Name)
	}
	return id, nil
}

// ListenHosts returns the names and addresses a server certificate for a
// listener on listen should cover: loopback, the listen host unless it is
// unspecified (0.0.0.0, ::), the host name, and every address of the
// host's interfaces but loopback and link-local ones. These are what a
// client on this host or the network may dial.
func ListenHosts(listen string) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if host, _, err := net.SplitHostPort(listen); err == nil && host != "" {
		if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
			hosts = append(hosts, host)
		}
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
				hosts = append(hosts, n.IP.String())
			}
		}
	}
	slices.Sort(hosts)
	return slices.Compact(hosts)
}
