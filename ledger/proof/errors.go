package proof

import (
	"errors"
	"fmt"
)

// ErrInvalid is matched by every reason a bundle is refused.
var ErrInvalid = errors.New("proof: invalid")

// The checks a bundle can fail. Each matches ErrInvalid; Verify returns an
// *Error whose Check is one of them.
var (
	// ErrFormat: the bundle does not decode, or breaks a size limit.
	ErrFormat = fmt.Errorf("%w: format", ErrInvalid)
	// ErrRecord: the transaction bytes do not hash to the id given, are not
	// a canonical transaction of this chain, or are about another license;
	// or the record part is not the record in force.
	ErrRecord = fmt.Errorf("%w: record", ErrInvalid)
	// ErrBatchPath: the transaction's path does not lead to its batch root.
	ErrBatchPath = fmt.Errorf("%w: batch path", ErrInvalid)
	// ErrBatchSignature: the batch signature does not verify, or the batch
	// is not the transaction's city's (or not this chain's).
	ErrBatchSignature = fmt.Errorf("%w: batch signature", ErrInvalid)
	// ErrTxPath: the transaction's path does not lead to the block's
	// transaction root.
	ErrTxPath = fmt.Errorf("%w: transaction path", ErrInvalid)
	// ErrHeader: a header does not decode, is not canonical, belongs to
	// another chain, disagrees with its view, is missing or is not used.
	ErrHeader = fmt.Errorf("%w: header", ErrInvalid)
	// ErrQuorum: a header's certificate does not hold a quorum of valid,
	// distinct orderer votes.
	ErrQuorum = fmt.Errorf("%w: quorum certificate", ErrInvalid)
	// ErrStateProof: the state proof does not lead to the header's state
	// root, or its leaf contradicts the transaction.
	ErrStateProof = fmt.Errorf("%w: state proof", ErrInvalid)
	// ErrKeyNotValid: a batch or vote names a key that is not in the trust
	// bundle for that member and role, or not valid at the block height.
	ErrKeyNotValid = fmt.Errorf("%w: key not valid", ErrInvalid)
	// ErrFork: two different headers for one height, in one bundle or
	// against a header the Verifier already trusts.
	ErrFork = fmt.Errorf("%w: fork", ErrInvalid)
)

// checkNames name the checks in reports (verify, subscribe).
var checkNames = []struct {
	err  error
	name string
}{
	{ErrFormat, "format"}, {ErrRecord, "record"}, {ErrBatchPath, "batch-path"},
	{ErrBatchSignature, "batch-signature"}, {ErrTxPath, "tx-path"}, {ErrHeader, "header"},
	{ErrQuorum, "quorum"}, {ErrStateProof, "state-proof"}, {ErrKeyNotValid, "key-not-valid"},
	{ErrFork, "fork"},
}

// CheckName returns the short name of the check err failed ("record",
// "batch-path", "batch-signature", "tx-path", "header", "quorum",
// "state-proof", "key-not-valid", "fork", "format"), or "" if err is not a
// proof rejection.
func CheckName(err error) string {
	for _, c := range checkNames {
		if errors.Is(err, c.err) {
			return c.name
		}
	}
	return ""
}

// Error is a refused bundle: which check failed (Check, one of the
// sentinels above), on which part ("tx", "record", "header 12", "state"),
// and why.
type Error struct {
	Check error
	Part  string
	Err   error
}

func (e *Error) Error() string {
	msg := e.Check.Error()
	if e.Part != "" {
		msg += " (" + e.Part + ")"
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is makes errors.Is(err, e.Check) and errors.Is(err, ErrInvalid) hold.
func (e *Error) Is(target error) bool { return target == e.Check || errors.Is(e.Check, target) }

// Unwrap returns the cause (for errors.Is against keys or smt errors).
func (e *Error) Unwrap() error { return e.Err }

func fail(check error, part string, format string, args ...any) *Error {
	return &Error{Check: check, Part: part, Err: fmt.Errorf(format, args...)}
}

func failErr(check error, part string, err error) *Error {
	return &Error{Check: check, Part: part, Err: err}
}
