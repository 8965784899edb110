package block

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/baybus/baybus/schemas/keys"
)

// ErrQuorum is returned for a certificate that does not carry a quorum of
// valid, distinct orderer votes.
var ErrQuorum = errors.New("block: quorum certificate invalid")

// Vote is one orderer's signature over a header hash.
type Vote struct {
	Signer string `json:"signer"` // orderer name
	KeyID  string `json:"keyId"`
	Sig    []byte `json:"sig"`
}

// QC is a quorum certificate: votes of at least trust.Quorum() distinct
// orderers over the same header. It sits beside the header, not in its hash.
type QC struct {
	Votes []Vote `json:"votes"`
}

func voteDomain(chain string) keys.Domain {
	return keys.Domain{Chain: chain, Purpose: keys.PurposeBlock}
}

// SignVote signs the header's hash as orderer name.
func SignVote(signer keys.Signer, name string, h *Header) Vote {
	hash := h.Hash()
	return Vote{Signer: name, KeyID: signer.KeyID(), Sig: signer.Sign(voteDomain(h.Chain), hash[:])}
}

// VerifyVote checks one vote over h.
func VerifyVote(trust *keys.Bundle, h *Header, v Vote) error {
	if trust.OrdererIndex(v.Signer) < 0 {
		return fmt.Errorf("%w: %q is not an orderer", ErrQuorum, v.Signer)
	}
	pk, err := trust.KeyAt(v.KeyID, keys.RoleOrderer, v.Signer, h.Height)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrQuorum, err)
	}
	hash := h.Hash()
	if err := pk.Verify(voteDomain(h.Chain), hash[:], v.Sig); err != nil {
		return fmt.Errorf("%w: vote of %s: %v", ErrQuorum, v.Signer, err)
	}
	return nil
}

// VerifyQC checks that qc holds valid votes over h from at least
// trust.Quorum() distinct orderers. A signer counted twice is an error, not
// merely ignored, so a padded certificate is visible.
func VerifyQC(trust *keys.Bundle, h *Header, qc *QC) error {
	if h.Chain != trust.Chain {
		return fmt.Errorf("%w: header of chain %q, trust bundle for %q", ErrQuorum, h.Chain, trust.Chain)
	}
	seen := make(map[string]bool, len(qc.Votes))
	for _, v := range qc.Votes {
		if seen[v.Signer] {
			return fmt.Errorf("%w: signer %s counted twice", ErrQuorum, v.Signer)
		}
		seen[v.Signer] = true
		if err := VerifyVote(trust, h, v); err != nil {
			return err
		}
	}
	if len(seen) < trust.Quorum() {
		return fmt.Errorf("%w: %d votes, quorum is %d of %d", ErrQuorum, len(seen), trust.Quorum(), trust.N())
	}
	return nil
}

// MarshalBinary encodes the certificate (JSON: small, and read by people).
func (qc *QC) MarshalBinary() ([]byte, error) { return json.Marshal(qc) }

// UnmarshalBinary decodes a certificate.
func (qc *QC) UnmarshalBinary(p []byte) error {
	if err := json.Unmarshal(p, qc); err != nil {
		return fmt.Errorf("%w: certificate: %v", ErrFormat, err)
	}
	return nil
}
