package block

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/config"
	"github.com/baybus/baybus/schemas/keys"
	"github.com/baybus/baybus/schemas/merkle"
)

// ErrBadConfig wraps the refusal of a configuration block's transaction
// (and config.ErrInvalid, with the reason, when the rule refused it).
var ErrBadConfig = errors.New("block: bad configuration block")

// computeConfig fills a configuration block's derived fields: no results,
// the transaction's id the one leaf under TxRoot, the state unchanged.
// The transaction is checked under trust, the configuration in force at
// the block's height.
func computeConfig(trust *keys.Bundle, b *Block, st State) error {
	if len(b.Batches) != 0 {
		return fmt.Errorf("%w: a configuration is sealed alone, not with %d batches", ErrBadConfig, len(b.Batches))
	}
	if _, err := config.Check(trust, b.Config, b.Header.Height); err != nil {
		return fmt.Errorf("%w: height %d: %w", ErrBadConfig, b.Header.Height, err)
	}
	root, err := st.PreviewRoot(b.Header.Height, nil)
	if err != nil {
		return fmt.Errorf("block: state root: %w", err)
	}
	b.Results = nil
	b.Header.TxRoot = merkle.Root([]schemas.TxID{config.ID(b.Config)})
	b.Header.ResultsHash = ResultsHash(nil)
	b.Header.StateRoot = root
	b.Header.TxCount = 1
	return nil
}

// checkConfig is what VerifyStored checks of a configuration block beyond
// its content (CheckContent) and certificate: the transaction under the
// configuration in force.
func checkConfig(trust *keys.Bundle, b *Block) error {
	if len(b.Batches) != 0 || len(b.Results) != 0 {
		return fmt.Errorf("%w: block %d has a configuration and %d batches", ErrBadConfig, b.Header.Height, len(b.Batches))
	}
	if _, err := config.Check(trust, b.Config, b.Header.Height); err != nil {
		return fmt.Errorf("%w: block %d: %w", ErrBadConfig, b.Header.Height, err)
	}
	return nil
}

// decodeConfig parses a configuration block written by Encode.
func decodeConfig(p []byte) (*Block, error) {
	var b Block
	r, n, err := readHead(p, configMagic, &b.Header, &b.Results)
	if err != nil {
		return nil, err
	}
	if n != 0 || len(b.Results) != 0 {
		return nil, fmt.Errorf("%w: configuration block with %d batches and %d results", ErrFormat, n, len(b.Results))
	}
	raw := r.Bytes(config.MaxBytes)
	if r.Err() != nil {
		return nil, fmt.Errorf("%w: configuration: %v", ErrFormat, r.Err())
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrFormat, r.Len())
	}
	if b.Config, err = config.DecodeCanonical(raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	return &b, nil
}

// IsConfig reports whether an encoded block (Encode's output, as a block
// log record holds it) is a configuration block, without decoding it.
func IsConfig(encoded []byte) bool { return bytes.HasPrefix(encoded, []byte(configMagic)) }

// NextTrust is the configuration in force after block b, sealed under
// trust: trust itself, unless b is a configuration block.
func NextTrust(trust *keys.Bundle, b *Block) (*keys.Bundle, error) {
	if b.Config == nil {
		return trust, nil
	}
	next, err := config.Check(trust, b.Config, b.Header.Height)
	if err != nil {
		return nil, fmt.Errorf("%w: block %d: %w", ErrBadConfig, b.Header.Height, err)
	}
	return next, nil
}

// ConfigLink is a configuration block as a verifier needs it: the header,
// its certificate, and the transaction its TxRoot commits to.
type ConfigLink struct {
	Header Header
	QC     QC
	Tx     *config.Tx
}

// ConfigLinkOf returns the link of a configuration block.
func ConfigLinkOf(b *Block, qc *QC) (ConfigLink, error) {
	if b.Config == nil {
		return ConfigLink{}, fmt.Errorf("block: block %d is not a configuration block", b.Header.Height)
	}
	return ConfigLink{Header: b.Header, QC: *qc, Tx: b.Config}, nil
}

// FollowConfig rebuilds the configuration history from the genesis trust
// and the configuration blocks, in height order: each block's certificate
// must verify under the configuration before it, and its TxRoot must
// commit to its transaction alone, which must be one the configuration
// before it allows. So a verifier holding only the genesis trust learns
// every later configuration, and a forged one (too few signatures, a
// removed orderer's vote, a changed byte) is refused.
//
// What the chain cannot show is a configuration block left out: a
// verifier given a chain that stops early judges later headers by an
// older configuration, which refuses votes of orderers added since and
// accepts only those of a quorum it once trusted. Fetch the chain from
// more than one source when that matters.
func FollowConfig(genesis *keys.Bundle, links []ConfigLink) (*config.History, error) {
	hist := config.NewHistory(genesis)
	for i := range links {
		l := &links[i]
		h := l.Header.Height
		trust := hist.At(h)
		if h <= hist.LastHeight() {
			return nil, fmt.Errorf("%w: configuration block %d after one at %d", ErrBadConfig, h, hist.LastHeight())
		}
		if err := checkRules(trust, &l.Header); err != nil {
			return nil, fmt.Errorf("%w: configuration block %d: %w", ErrBadConfig, h, err)
		}
		if err := VerifyQC(trust, &l.Header, &l.QC); err != nil {
			return nil, fmt.Errorf("%w: configuration block %d: %w", ErrBadConfig, h, err)
		}
		if l.Tx == nil || l.Header.TxCount != 1 || l.Header.ResultsHash != ResultsHash(nil) ||
			l.Header.TxRoot != merkle.Root([]schemas.TxID{config.ID(l.Tx)}) {
			return nil, fmt.Errorf("%w: block %d's header does not commit to this configuration alone", ErrBadConfig, h)
		}
		if _, err := hist.Apply(h, l.Tx); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
		}
	}
	return hist, nil
}

// configChainVersion is the version of the configuration chain file.
const configChainVersion = 1

// wireLink is one link of a configuration chain file.
type wireLink struct {
	Header []byte          `json:"header"` // Header.MarshalBinary
	QC     QC              `json:"qc"`
	Config json.RawMessage `json:"config"` // the canonical transaction
}

type wireChain struct {
	V      int        `json:"v"`
	Chain  string     `json:"chain"`
	Blocks []wireLink `json:"blocks"`
}

// MaxConfigChainBytes bounds a configuration chain file.
const MaxConfigChainBytes = 64 << 20

// EncodeConfigChain writes the configuration blocks of chain as JSON:
// what `baybus verify --config-chain` reads and what the read routes
// serve.
func EncodeConfigChain(chain string, links []ConfigLink) []byte {
	w := wireChain{V: configChainVersion, Chain: chain, Blocks: make([]wireLink, len(links))}
	for i, l := range links {
		hb, _ := l.Header.MarshalBinary()
		w.Blocks[i] = wireLink{Header: hb, QC: l.QC, Config: config.Encode(l.Tx)}
	}
	out, _ := json.MarshalIndent(w, "", "  ")
	return append(out, '\n')
}

// DecodeConfigChain parses a configuration chain file. It checks the
// form only; FollowConfig checks the signatures.
func DecodeConfigChain(raw []byte) (chain string, links []ConfigLink, err error) {
	if len(raw) > MaxConfigChainBytes {
		return "", nil, fmt.Errorf("%w: configuration chain of %d bytes", ErrFormat, len(raw))
	}
	var w wireChain
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return "", nil, fmt.Errorf("%w: configuration chain: %w", ErrFormat, err)
	}
	if w.V != configChainVersion {
		return "", nil, fmt.Errorf("%w: configuration chain version %d, want %d", ErrFormat, w.V, configChainVersion)
	}
	links = make([]ConfigLink, len(w.Blocks))
	for i, b := range w.Blocks {
		if err := links[i].Header.UnmarshalBinary(b.Header); err != nil {
			return "", nil, fmt.Errorf("configuration chain block %d: %w", i, err)
		}
		if links[i].Header.Chain != w.Chain {
			return "", nil, fmt.Errorf("%w: configuration chain of %q holds a header of %q", ErrFormat, w.Chain, links[i].Header.Chain)
		}
		links[i].QC = b.QC
		// The transaction as the block holds it: canonical bytes, so the
		// id the header commits to is the one computed here.
		var canon bytes.Buffer
		if err := json.Compact(&canon, b.Config); err != nil {
			return "", nil, fmt.Errorf("%w: configuration chain block %d: %w", ErrFormat, i, err)
		}
		if links[i].Tx, err = config.DecodeCanonical(canon.Bytes()); err != nil {
			return "", nil, fmt.Errorf("configuration chain block %d: %w", i, err)
		}
	}
	return w.Chain, links, nil
}
