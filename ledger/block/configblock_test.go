package block_test

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/baybus/baybus/ledger/block"
	"github.com/baybus/baybus/ledger/block/blocktest"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/config"
	"github.com/baybus/baybus/schemas/keys"
)

// configLedger is a chain of rules version 3 with every key at hand,
// including those its configurations add.
type configLedger struct {
	*ledger
	priv map[string]*keys.PrivateKey
}

func newConfigLedger(t *testing.T) *configLedger {
	l := &configLedger{ledger: newLedger(t, block.Rules3), priv: map[string]*keys.PrivateKey{}}
	for _, k := range l.c.Cities {
		l.priv[k.KeyID()] = k
	}
	for _, k := range l.c.Orderers {
		l.priv[k.KeyID()] = k
	}
	return l
}

// propose drafts a configuration over the one in force: Shenzhen's key
// rotated from height from, and nansha removed; signed by the orderers
// named, Shenzhen and its new key.
func (l *configLedger) propose(from uint64, signers ...string) *config.Tx {
	l.t.Helper()
	d := config.NewDraft(l.trust)
	nk, err := keys.Generate(d.NextKeyID(keys.RoleCity, "shenzhen"), keys.Ed25519, rand.Reader)
	if err != nil {
		l.t.Fatal(err)
	}
	l.priv[nk.KeyID()] = nk
	if err := d.RotateKey(config.TrustedKeyOf(nk.Public(), keys.RoleCity, "shenzhen", 0), from); err != nil {
		l.t.Fatal(err)
	}
	if l.trust.OrdererIndex("nansha") >= 0 {
		if err := d.RemoveOrderer("nansha"); err != nil {
			l.t.Fatal(err)
		}
	}
	tx, err := d.Proposal("rotate shenzhen")
	if err != nil {
		l.t.Fatal(err)
	}
	for _, o := range signers {
		config.Sign(tx, l.priv[l.keyAt(keys.RoleOrderer, o)], keys.RoleOrderer, o)
	}
	config.Sign(tx, l.priv[l.keyAt(keys.RoleCity, "shenzhen")], keys.RoleCity, "shenzhen")
	config.Sign(tx, nk, keys.RoleCity, "shenzhen")
	return tx
}

// sealConfig seals tx alone as the next block, certified by the
// orderers named, and returns its link.
func (l *configLedger) sealConfig(tx *config.Tx, voters ...string) block.ConfigLink {
	l.t.Helper()
	blk, _, err := block.Assemble(l.trust, block.Limits{}, block.Input{Parent: l.parent, Config: tx,
		Timestamp: l.at.UnixNano(), Proposer: "macao"}, l.chain, l.st)
	if err != nil {
		l.t.Fatal(err)
	}
	dec, err := block.Decode(block.Encode(blk))
	if err != nil {
		l.t.Fatal(err)
	}
	if _, err := block.Verify(l.trust, block.Limits{}, l.parent, dec, l.chain, l.st); err != nil {
		l.t.Fatalf("a follower refuses an honest configuration block: %v", err)
	}
	qc := l.qc(&blk.Header, voters...)
	if err := block.VerifyStored(l.trust, l.parent, dec, qc); err != nil {
		l.t.Fatalf("VerifyStored: %v", err)
	}
	next, err := block.NextTrust(l.trust, dec)
	if err != nil {
		l.t.Fatal(err)
	}
	l.chain.Add(blk)
	h := blk.Header
	l.parent, l.trust = &h, next
	link, err := block.ConfigLinkOf(dec, qc)
	if err != nil {
		l.t.Fatal(err)
	}
	return link
}

// keyAt is the id of the member's key valid at the next height.
func (l *configLedger) keyAt(role keys.Role, member string) string {
	next := uint64(1)
	if l.parent != nil {
		next = l.parent.Height + 1
	}
	for _, k := range l.trust.Keys {
		if _, err := l.trust.KeyAt(k.ID, role, member, next); err == nil {
			return k.ID
		}
	}
	l.t.Fatalf("%s/%s has no key at %d", role, member, next)
	return ""
}

func (l *configLedger) qc(h *block.Header, voters ...string) *block.QC {
	qc := &block.QC{}
	for _, o := range voters {
		id, _ := l.trust.CurrentKey(keys.RoleOrderer, o)
		if id == "" {
			id = "orderer/" + o + "/1"
		}
		qc.Votes = append(qc.Votes, block.SignVote(l.priv[id], o, h))
	}
	return qc
}

func TestConfigBlocks(t *testing.T) {
	l := newConfigLedger(t)
	genesis := l.trust
	l.one(blocktest.Tx("gba-test", "shenzhen", "A1", schemas.ActionIssue))
	tx := l.propose(5, "hongkong", "macao", "qianhai", "hengqin")
	link := l.sealConfig(tx, "hongkong", "macao", "qianhai", "hengqin")
	if link.Header.Height != 2 || link.Header.TxCount != 1 {
		t.Fatalf("configuration block header %+v", link.Header)
	}
	if l.trust.N() != 4 || l.trust.OrdererIndex("nansha") >= 0 {
		t.Errorf("orderers in force after the configuration: %v", l.trust.Orderers)
	}
	// Height 3 and 4: Shenzhen's old key still signs.
	l.one(blocktest.Tx("gba-test", "shenzhen", "A2", schemas.ActionIssue))
	l.one(blocktest.Tx("gba-test", "shenzhen", "A3", schemas.ActionIssue))
	// Height 5: its old key's batches are refused.
	l.seq["shenzhen"]++
	bt := blocktest.Batch(l.c, "shenzhen", l.seq["shenzhen"], blocktest.Tx("gba-test", "shenzhen", "A4", schemas.ActionIssue))
	_, _, err := block.Assemble(l.trust, block.Limits{}, block.Input{Parent: l.parent, Batches: []*schemas.Batch{bt}, Proposer: "macao"}, l.chain, l.st)
	if !errors.Is(err, block.ErrBadBatch) || !errors.Is(err, keys.ErrKeyNotValid) {
		t.Errorf("a batch signed with the rotated key at its end: %v", err)
	}

	// A verifier holding only the genesis follows the chain.
	raw := block.EncodeConfigChain("gba-test", []block.ConfigLink{link})
	chain, links, err := block.DecodeConfigChain(raw)
	if err != nil || chain != "gba-test" || len(links) != 1 {
		t.Fatalf("DecodeConfigChain: %v", err)
	}
	hist, err := block.FollowConfig(genesis, links)
	if err != nil {
		t.Fatal(err)
	}
	if hist.At(2) != genesis || hist.At(3).N() != 4 {
		t.Error("history does not change at the height after the configuration block")
	}
	// A header after the change, certified by the four orderers in force,
	// verifies under the history's bundle and not under the genesis.
	h := *l.parent
	qc := l.qc(&h, "hongkong", "macao", "qianhai")
	if err := block.VerifyQC(hist.At(h.Height), &h, qc); err != nil {
		t.Errorf("a header after the change: %v", err)
	}
	if err := block.VerifyQC(genesis, &h, qc); !errors.Is(err, block.ErrQuorum) {
		t.Errorf("the same header under the genesis alone: %v", err)
	}
}

// TestConfigBlockRefused: a configuration with too few signatures, or
// sealed with batches, or changed after it was assembled, is refused.
func TestConfigBlockRefused(t *testing.T) {
	l := newConfigLedger(t)
	tx := l.propose(5, "hongkong", "macao", "qianhai")
	_, _, err := block.Assemble(l.trust, block.Limits{}, block.Input{Config: tx, Proposer: "macao"}, l.chain, l.st)
	if !errors.Is(err, block.ErrBadConfig) || !errors.Is(err, config.ErrTooFewSignatures) {
		t.Errorf("three of five orderers: %v", err)
	}

	tx = l.propose(5, "hongkong", "macao", "qianhai", "hengqin")
	bt := blocktest.Batch(l.c, "macao", 1, blocktest.Tx("gba-test", "macao", "M1", schemas.ActionIssue))
	_, _, err = block.Assemble(l.trust, block.Limits{}, block.Input{Config: tx, Batches: []*schemas.Batch{bt}, Proposer: "macao"}, l.chain, l.st)
	if !errors.Is(err, block.ErrBadConfig) {
		t.Errorf("a configuration with a batch: %v", err)
	}

	blk, _, err := block.Assemble(l.trust, block.Limits{}, block.Input{Config: tx, Proposer: "macao"}, l.chain, l.st)
	if err != nil {
		t.Fatal(err)
	}
	other := l.propose(6, "hongkong", "macao", "qianhai", "hengqin")
	forged := *blk
	forged.Config = other
	if _, err := block.Verify(l.trust, block.Limits{}, nil, &forged, l.chain, l.st); !errors.Is(err, block.ErrMismatch) {
		t.Errorf("a configuration swapped under a header: %v", err)
	}
	if err := block.CheckContent(&forged); !errors.Is(err, block.ErrMismatch) {
		t.Errorf("CheckContent of a swapped configuration: %v", err)
	}
}

// TestFollowConfigRefusesForgeries: the chain a verifier is handed is
// refused if a link is not certified by the configuration before it.
func TestFollowConfigRefusesForgeries(t *testing.T) {
	l := newConfigLedger(t)
	genesis := l.trust
	first := l.sealConfig(l.propose(5, "hongkong", "macao", "qianhai", "hengqin"), "hongkong", "macao", "qianhai", "hengqin")
	l.one(blocktest.Tx("gba-test", "macao", "M1", schemas.ActionIssue))
	second := l.sealConfig(l.propose(9, "hongkong", "macao", "qianhai"), "hongkong", "macao", "qianhai")
	if _, err := block.FollowConfig(genesis, []block.ConfigLink{first, second}); err != nil {
		t.Fatalf("the honest chain: %v", err)
	}
	for _, c := range []struct {
		name  string
		links func() []block.ConfigLink
		want  error
	}{
		{"a certificate of three of five", func() []block.ConfigLink {
			f := first
			f.QC = block.QC{Votes: first.QC.Votes[:3]}
			return []block.ConfigLink{f}
		}, block.ErrQuorum},
		{"a removed orderer's vote", func() []block.ConfigLink {
			s := second
			s.QC = block.QC{Votes: append(append([]block.Vote(nil), second.QC.Votes[:2]...), block.SignVote(l.priv["orderer/nansha/1"], "nansha", &second.Header))}
			return []block.ConfigLink{first, s}
		}, block.ErrQuorum},
		{"a changed byte in the configuration", func() []block.ConfigLink {
			f := first
			cp := *first.Tx
			cp.Note = "rotate shenzhem"
			f.Tx = &cp
			return []block.ConfigLink{f}
		}, block.ErrBadConfig},
		{"the second without the first", func() []block.ConfigLink {
			// Certified by three of the four in force then, which the
			// genesis's five do not make a quorum.
			return []block.ConfigLink{second}
		}, block.ErrQuorum},
		{"out of order", func() []block.ConfigLink {
			return []block.ConfigLink{second, first}
		}, block.ErrBadConfig},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := block.FollowConfig(genesis, c.links())
			if !errors.Is(err, c.want) || !errors.Is(err, block.ErrBadConfig) {
				t.Errorf("FollowConfig: %v, want %v", err, c.want)
			}
		})
	}
}

func FuzzDecodeConfigChain(f *testing.F) {
	f.Add([]byte(`{"v":1,"chain":"gba-test","blocks":[]}`))
	f.Add([]byte(`{"v":1,"chain":"gba-test","blocks":[{"header":"R0JIMQ==","qc":{"votes":[]},"config":{}}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		chain, links, err := block.DecodeConfigChain(raw)
		if err != nil {
			return
		}
		again := block.EncodeConfigChain(chain, links)
		if _, links2, err := block.DecodeConfigChain(again); err != nil || len(links2) != len(links) {
			t.Fatalf("re-encoded chain refused: %v", err)
		}
	})
}

// TestConfigBlockSeed writes a configuration block to FuzzDecode's
// corpus when run with -update-seed (the committed file is the seed).
func TestConfigBlockSeed(t *testing.T) {
	if !*updateSeed {
		t.Skip("run with -update-seed to rewrite the seed")
	}
	l := newConfigLedger(t)
	tx := l.propose(5, "hongkong", "macao", "qianhai", "hengqin")
	blk, _, err := block.Assemble(l.trust, block.Limits{}, block.Input{Config: tx, Proposer: "macao"}, l.chain, l.st)
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", block.Encode(blk))
	if err := os.WriteFile(filepath.Join("testdata", "fuzz", "FuzzDecode", "config-block"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

var updateSeed = flag.Bool("update-seed", false, "rewrite the configuration block seed of FuzzDecode")
