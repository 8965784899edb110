package auth

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/consortium"
)

// CertAuth authenticates by the client certificate the server verified
// against the consortium CA (or an operator's CA). A city system's HTTP
// certificate names its city and system in the subject's CommonName,
// "<city>" or "<city>.<system>" (e.g. "shenzhen.samr"), and its roles in
// the OrganizationalUnit, joined by '.' ("publish", "read",
// "publish.read"): IssueClientCert makes one.
//
// A named reader's certificate names it "reader-<name>" with the role
// "reader" (the form of its bus identity): IssueReaderCert makes one.
//
// Certificates are not revocable here; they expire (397 days by default),
// and a city whose certificate leaks should be moved to a new CA or, until
// then, to tokens.
type CertAuth struct{}

var _ Authenticator = CertAuth{}

// Authenticate implements Authenticator.
func (CertAuth) Authenticate(r *http.Request) (*Principal, error) {
	id, err := consortium.PeerIdentityOf(r.TLS)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	return principalOf(id)
}

func principalOf(id consortium.PeerIdentity) (*Principal, error) {
	if id.Role == readerRole {
		name, ok := strings.CutPrefix(id.Name, readerRole+"-")
		if !ok || !ValidReaderName(name) {
			return nil, fmt.Errorf("%w: reader certificate %q (want reader-<name>)", ErrUnauthenticated, id.Name)
		}
		return &Principal{ID: "cert:" + id.Name, Method: "certificate", Reader: name, Roles: []Role{RoleRead}}, nil
	}
	city, _, _ := strings.Cut(id.Name, ".")
	if _, err := schemas.LookupCity(city); err != nil {
		return nil, fmt.Errorf("%w: client certificate %q names no city (want <city> or <city>.<system>)", ErrUnauthenticated, id.Name)
	}
	roles, err := ParseRoles(strings.ReplaceAll(id.Role, ".", ","))
	if err != nil || id.Role == "" {
		return nil, fmt.Errorf("%w: client certificate %q has roles %q (want publish, read or publish.read)", ErrUnauthenticated, id.Name, id.Role)
	}
	return &Principal{ID: "cert:" + id.Name, Method: "certificate", City: city, Roles: roles}, nil
}

// readerRole is the role (OrganizationalUnit) of a reader's certificate.
const readerRole = "reader"

// IssueReaderCert has ca issue a client certificate for the named reader.
func IssueReaderCert(ca *consortium.CA, reader string) (*consortium.Issued, error) {
	if !ValidReaderName(reader) {
		return nil, fmt.Errorf("auth: reader name %q", reader)
	}
	return ca.Issue(consortium.CertSpec{Name: readerRole + "-" + reader, Role: readerRole, Usage: consortium.UsageClient})
}

// IssueClientCert has ca issue a client certificate for a city system:
// subject "<city>.<system>" (or "<city>" with no system) with roles.
func IssueClientCert(ca *consortium.CA, city, system string, roles []Role) (*consortium.Issued, error) {
	if _, err := schemas.LookupCity(city); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if len(roles) == 0 {
		return nil, fmt.Errorf("auth: a client certificate needs at least one role")
	}
	name := city
	if system != "" {
		name += "." + system
	}
	rs := make([]string, len(roles))
	for i, r := range roles {
		rs[i] = string(r)
	}
	return ca.Issue(consortium.CertSpec{Name: name, Role: strings.Join(rs, "."), Usage: consortium.UsageClient})
}
