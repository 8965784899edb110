package explorer

import (
	"testing"

	"github.com/baybus/baybus/ledger/query"
	"github.com/baybus/baybus/schemas"
)

// TestPersonalHolder: which catalogue entries lose holder and name for
// anyone but their city. A certificate's or an approval's holder is a
// person's identity number on a chain of rules version 1 or 2; on version
// 3 the catalogue names the license's own id there.
func TestPersonalHolder(t *testing.T) {
	for _, tc := range []struct {
		name string
		l    query.LicenseEntry
		want bool
	}{
		{"business", query.LicenseEntry{Key: "CN/91440300MA5F000000", Kind: schemas.KindBusiness, Holder: "91440300MA5F000000"}, false},
		{"certificate, person's number", query.LicenseEntry{Key: "CN/S44030020", Kind: schemas.KindCertificate, Holder: "440307199112115050"}, true},
		{"approval, holder's number", query.LicenseEntry{Key: "HK/A-1", Kind: schemas.KindApproval, Holder: "A1234563"}, true},
		{"certificate, version 3", query.LicenseEntry{Key: "CN/S44030020", Kind: schemas.KindCertificate, Holder: "S44030020"}, false},
		{"bad key", query.LicenseEntry{Key: "nonsense", Kind: schemas.KindCertificate, Holder: "x"}, true},
	} {
		if got := personalHolder(tc.l); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
