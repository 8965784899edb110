package replica

import (
	"errors"
	"fmt"

	"github.com/baybus/baybus/schemas/keys"
	"github.com/baybus/baybus/schemas/wire"
)

// Signature formats inside SmartBFT's types.Signature. Each signed message
// starts with its own tag, so a signature of one kind can never be taken for
// another even under the same domain.
const (
	tagPlain = "GBS1" // Signer.Sign: view-change data
)

// ErrSigFormat is returned for a view-change signature that does not parse.
var ErrSigFormat = errors.New("replica: malformed signature")

// SignPlain implements SmartBFT's Signer.Sign: the result carries the key id
// so that VerifyPlain can find the key.
func SignPlain(chain string, k keys.Signer, msg []byte) []byte {
	sig := k.Sign(keys.Domain{Chain: chain, Purpose: keys.PurposeConsensus}, append([]byte(tagPlain), msg...))
	out := wire.AppendString(nil, k.KeyID())
	return append(out, sig...)
}

// VerifyPlain checks a SignPlain signature by the named orderer at height.
func VerifyPlain(trust *keys.Bundle, orderer string, height uint64, msg, value []byte) error {
	r := wire.NewReader(value)
	keyID := string(r.Bytes(256))
	if r.Err() != nil {
		return fmt.Errorf("%w: %w", ErrSigFormat, r.Err())
	}
	pk, err := trust.KeyAt(keyID, keys.RoleOrderer, orderer, height)
	if err != nil {
		return err
	}
	return pk.Verify(keys.Domain{Chain: trust.Chain, Purpose: keys.PurposeConsensus}, append([]byte(tagPlain), msg...), r.Rest())
}
