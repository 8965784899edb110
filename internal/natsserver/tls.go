package natsserver

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/baybus/baybus/schemas/consortium"
	"github.com/baybus/baybus/schemas/keys"
)

// ErrPlaintext is returned by Config (and so StartServer) for a client
// port, cluster, gateway or monitoring listener bound beyond loopback
// without TLS and without ServerConfig.Insecure.
var ErrPlaintext = errors.New("natsserver: plaintext beyond loopback")

// TLS is what the server's listeners that leave the host present and
// verify: the client port, cluster routes, gateway connections and the
// monitoring port (then https). The files are named in the rendered
// configuration, so a server started from a file (`baybus nats --config`)
// uses them too.
type TLS struct {
	// CertFile and KeyFile are this server's certificate (PEM, the chain)
	// and key. Routes and gateways dial their peers with it too, so it
	// needs both server and client usage (consortium.UsageServer|
	// UsageClient) and the names or addresses peers and clients dial.
	CertFile, KeyFile string
	// CAFile holds the CAs (PEM) clients, routes and gateways must be
	// certified by, and that peers' servers are checked against: the
	// consortium's tls/ca.crt, or an operator's.
	CAFile string
	// ClientCertsOptional lets clients connect to the client port without
	// a certificate (their NKey still authenticates them). By default a
	// client must present one from CAFile. Routes and gateways always
	// verify both ways.
	ClientCertsOptional bool
}

// tlsTimeout is how long a TLS handshake may take, in seconds.
const tlsTimeout = 5

// ConsortiumTLS returns the TLS of a server whose certificate the
// consortium CA issues (or reuses, see consortium.CA.EnsureCert) as
// dir/tls/<name>.crt, valid for hosts (the DNS names and addresses
// clients and peers dial), with dir/tls/ca.crt as the CA file (written if
// it is not the CA's).
func ConsortiumTLS(ca *consortium.CA, dir, name string, hosts []string) (*TLS, error) {
	if _, err := ca.EnsureCert(dir, consortium.CertSpec{Name: name, Role: "server",
		Usage: consortium.UsageServer | consortium.UsageClient, Hosts: hosts}); err != nil {
		return nil, err
	}
	caPath, _ := consortium.CAPaths(dir)
	if have, err := os.ReadFile(caPath); err != nil || !bytes.Equal(have, ca.CertPEM()) {
		if err := keys.WriteFileAtomic(caPath, ca.CertPEM(), 0o644); err != nil {
			return nil, fmt.Errorf("natsserver: %w", err)
		}
	}
	certPath, keyPath := consortium.CertPaths(dir, name)
	return &TLS{CertFile: certPath, KeyFile: keyPath, CAFile: caPath}, nil
}

// block renders a tls { } block; verify applies to the client port only
// (nats-server always verifies routes and gateways).
func (t *TLS) block(indent string, verify bool) string {
	q := strconv.Quote
	var b strings.Builder
	fmt.Fprintf(&b, "%stls {\n", indent)
	fmt.Fprintf(&b, "%s  cert_file: %s\n%s  key_file: %s\n%s  ca_file: %s\n", indent, q(t.CertFile), indent, q(t.KeyFile), indent, q(t.CAFile))
	if verify {
		fmt.Fprintf(&b, "%s  verify: true\n", indent)
	}
	fmt.Fprintf(&b, "%s  timeout: %d\n%s}\n", indent, tlsTimeout, indent)
	return b.String()
}

// BeyondLoopback reports whether a listen address ("host:port") accepts
// connections from other hosts: any address but a loopback IP or
// "localhost".
func BeyondLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return true
	}
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// checkPlaintext refuses a listener beyond loopback without TLS unless
// the configuration says Insecure.
func (c *ServerConfig) checkPlaintext() error {
	if c.TLS != nil {
		if c.TLS.CertFile == "" || c.TLS.KeyFile == "" || c.TLS.CAFile == "" {
			return fmt.Errorf("natsserver: TLS needs a certificate, its key and a CA file")
		}
		return nil
	}
	if c.Insecure {
		return nil
	}
	gateway := ""
	if c.Gateway != nil {
		gateway = c.Gateway.Listen
	}
	for _, l := range []struct{ what, addr string }{
		{ListenerClient, c.Listen}, {ListenerCluster, c.ClusterListen}, {ListenerGateway, gateway}, {ListenerMonitor, c.Monitor},
	} {
		if l.addr != "" && BeyondLoopback(l.addr) {
			return fmt.Errorf("%w: %s listener %s: give TLS certificates (the consortium CA's, or your own) or allow plaintext explicitly (insecure)",
				ErrPlaintext, l.what, l.addr)
		}
	}
	return nil
}
