// Package auth authenticates the city systems and named readers that call
// a gateway: bearer tokens scoped to one city and its roles (or to one
// named reader of the trust bundle, which only reads), stored hashed in a
// token file
// that the gateway re-reads when it changes (so a revocation takes effect
// without a restart), and client certificates issued by the consortium CA
// (mutual TLS).
//
// # Contract
//
// Authenticate answers who sent a request, or an error wrapping
// ErrUnauthenticated (no credential, or an unknown, expired or revoked
// one: HTTP 401). Whether that principal may do what it asks is Allow's
// answer, an error wrapping ErrForbidden (another city's credential, or
// one without the role: HTTP 403).
//
// A token is "bbt_<id>_<secret>": the id (16 hex digits) finds its
// record, the secret (32 random bytes) proves it. The token file keeps the
// SHA-256 of the whole token, never the token itself; a 256-bit random
// secret needs no slow hash.
//
// # Concurrency
//
// A TokenStore is safe for concurrent use. Several processes may share its
// file: writers (Issue, Revoke) take an exclusive lock on a lock file
// beside it and rewrite it atomically; readers notice the change by its
// modification time and size, at most once per ReloadEvery.
package auth

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Role is what a credential may do.
type Role string

// Roles.
const (
	// RolePublish publishes the credential's city's events and looks up
	// transactions.
	RolePublish Role = "publish"
	// RoleRead reads proofs and transactions.
	RoleRead Role = "read"
)

// ParseRoles parses a comma-separated list of roles.
func ParseRoles(s string) ([]Role, error) {
	var out []Role
	for _, part := range strings.Split(s, ",") {
		r := Role(strings.TrimSpace(part))
		switch r {
		case RolePublish, RoleRead:
			if !slices.Contains(out, r) {
				out = append(out, r)
			}
		default:
			return nil, fmt.Errorf("auth: role %q: want publish or read", part)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Errors. Check them with errors.Is.
var (
	// ErrUnauthenticated: no credential, or one that does not identify
	// anyone now.
	ErrUnauthenticated = errors.New("auth: unauthenticated")
	// ErrNoCredential: the request carries no credential at all.
	ErrNoCredential = fmt.Errorf("%w: no credential (send Authorization: Bearer <token>, or a client certificate)", ErrUnauthenticated)
	// ErrBadToken: a token that is malformed or matches no record.
	ErrBadToken = fmt.Errorf("%w: unknown token", ErrUnauthenticated)
	// ErrExpired: a token past its expiry.
	ErrExpired = fmt.Errorf("%w: token expired", ErrUnauthenticated)
	// ErrRevoked: a revoked token.
	ErrRevoked = fmt.Errorf("%w: token revoked", ErrUnauthenticated)
	// ErrForbidden: an authenticated principal asking for what its
	// credential does not allow.
	ErrForbidden = errors.New("auth: forbidden")
)

// Principal is who sent a request: a city system (City set) or a named
// reader of the trust bundle (Reader set, role read only).
type Principal struct {
	// ID names the credential: a token's id, or a certificate's subject.
	ID string
	// Method is "token" or "certificate".
	Method string
	// City is the city token the credential is scoped to.
	City string
	// Reader is the named reader the credential is scoped to; the gateway
	// checks what it reads against the reader's grants in the trust
	// bundle.
	Reader string
	Roles  []Role
}

// Scope names whom a credential speaks for: "city shenzhen" or
// "reader hk-bank".
func (p *Principal) Scope() string {
	if p.Reader != "" {
		return "reader " + p.Reader
	}
	return "city " + p.City
}

// Has reports whether the principal holds role r.
func (p *Principal) Has(r Role) bool { return p != nil && slices.Contains(p.Roles, r) }

// Allow checks that p may act as role on city ("" for a route that is not
// a city's, such as a transaction lookup or a proof).
func (p *Principal) Allow(city string, role Role) error {
	if p == nil {
		return fmt.Errorf("%w: no principal", ErrForbidden)
	}
	if !p.Has(role) {
		return fmt.Errorf("%w: credential %s (%s of %s) lacks the %s role", ErrForbidden, p.ID, rolesString(p.Roles), p.Scope(), role)
	}
	if city != "" && p.City != city {
		return fmt.Errorf("%w: credential %s is %s's, not city %s's", ErrForbidden, p.ID, p.Scope(), city)
	}
	return nil
}

func rolesString(rs []Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, "+")
}

// ValidReaderName reports whether s can name a reader (as the trust
// bundle's reader names: lower-case letters, digits, '-', at most 32).
func ValidReaderName(s string) bool {
	if len(s) == 0 || len(s) > 32 || s[0] == '-' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Authenticator identifies who sent a request.
type Authenticator interface {
	// Authenticate returns the request's principal, or an error wrapping
	// ErrUnauthenticated.
	Authenticate(r *http.Request) (*Principal, error)
}

// Chain authenticates by client certificate when the connection presented
// one the server verified (Certs), and by bearer token otherwise (Tokens).
// Either may be nil.
type Chain struct {
	Certs  *CertAuth
	Tokens *TokenStore
}

var _ Authenticator = Chain{}

// Authenticate implements Authenticator.
func (c Chain) Authenticate(r *http.Request) (*Principal, error) {
	if c.Certs != nil && hasVerifiedCert(r.TLS) {
		return c.Certs.Authenticate(r)
	}
	if c.Tokens != nil {
		return c.Tokens.Authenticate(r)
	}
	return nil, ErrNoCredential
}

func hasVerifiedCert(s *tls.ConnectionState) bool {
	return s != nil && len(s.VerifiedChains) > 0
}
