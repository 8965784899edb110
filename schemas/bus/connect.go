package bus

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// SeedOption returns the connection option that authenticates with an NKey
// user seed and sets the identity's inbox prefix (InboxPrefix), the only
// reply subjects its permissions let it subscribe to.
func SeedOption(seed []byte) (nats.Option, error) {
	kp, err := nkeys.FromSeed(seed)
	if err != nil {
		return nil, fmt.Errorf("bus: nkey seed: %w", err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("bus: nkey: %w", err)
	}
	return both(nats.Nkey(pub, kp.Sign), nats.CustomInboxPrefix(InboxPrefix(pub))), nil
}

func both(a, b nats.Option) nats.Option {
	return func(o *nats.Options) error {
		if err := a(o); err != nil {
			return err
		}
		return b(o)
	}
}

// CredsOption returns the connection option for a credentials file: a JWT
// .creds file from an operator, or an NKey seed file as `baybus keys init`
// writes them. Either way the connection's inbox prefix is the user's
// (InboxPrefix of its public key).
func CredsOption(path string) (nats.Option, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}
	if isJWTCreds(raw) {
		kp, err := nkeys.ParseDecoratedUserNKey(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrCreds, path, err)
		}
		pub, err := kp.PublicKey()
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrCreds, path, err)
		}
		return both(nats.UserCredentials(path), nats.CustomInboxPrefix(InboxPrefix(pub))), nil
	}
	opt, err := SeedOption(bytes.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCreds, path, err)
	}
	return opt, nil
}

// Connect dials an external server (or cluster: comma-separated URLs) with
// a credentials file. An empty creds path connects without credentials.
func Connect(url, creds, name string, opts ...nats.Option) (*nats.Conn, error) {
	all := []nats.Option{nats.Name(name), nats.MaxReconnects(-1)}
	if creds != "" {
		opt, err := CredsOption(creds)
		if err != nil {
			return nil, err
		}
		all = append(all, opt)
	}
	nc, err := nats.Connect(url, append(all, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("bus: connect %s as %s: %w", url, name, err)
	}
	return nc, nil
}

// WaitJetStream waits until JetStream is ready for the GBA account (in a
// cluster, until a meta leader is elected).
func WaitJetStream(ctx context.Context, nc *nats.Conn) error {
	for {
		js, err := nc.JetStream()
		if err == nil {
			if _, err = js.AccountInfo(); err == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bus: JetStream not ready: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// CredsPublicKey returns the public NKey of the user a credentials file
// (NKey seed or JWT .creds) authenticates as: how a tool finds which
// reader of the trust bundle it runs as.
func CredsPublicKey(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("bus: %w", err)
	}
	var kp nkeys.KeyPair
	if isJWTCreds(raw) {
		kp, err = nkeys.ParseDecoratedUserNKey(raw)
	} else {
		kp, err = nkeys.FromSeed(bytes.TrimSpace(raw))
	}
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrCreds, path, err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrCreds, path, err)
	}
	return pub, nil
}

// TLSOption returns the connection option for a server whose listeners
// use TLS (natsserver.TLS): caFile is the PEM of the CAs to trust (the
// consortium's tls/ca.crt), certFile and keyFile, if given, the client
// certificate a server that verifies clients asks for.
func TLSOption(caFile, certFile, keyFile string) (nats.Option, error) {
	raw, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("bus: tls: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(raw) {
		return nil, fmt.Errorf("bus: tls: %s holds no PEM certificate", caFile)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("bus: tls: client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return nats.Secure(cfg), nil
}
