package smt

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/baybus/baybus/schemas"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json and the seed fuzz corpus")

// vectors is testdata/vectors.json: a fixed tree, its root, and proofs that
// must verify or fail, for verifiers written elsewhere.
type vectors struct {
	Comment string   `json:"comment"`
	Empty   Hash     `json:"emptyRoot"`
	Leaves  []Leaf   `json:"leaves"`
	Root    Hash     `json:"root"`
	Cases   []vector `json:"cases"`
}

type vector struct {
	Name        string `json:"name"`
	Key         string `json:"key"`
	Leaf        *Leaf  `json:"leaf"`
	Proof       *Proof `json:"proof"`
	ProofBinary string `json:"proofBinary"`
	Valid       bool   `json:"valid"`
}

func vectorLeaves() []Leaf {
	var out []Leaf
	for i := range 24 {
		key := fmt.Sprintf("CN/9144030%02dMA5X", i)
		if i%3 == 1 {
			key = fmt.Sprintf("HK/%08d", 70000000+i)
		}
		seed := sha256.Sum256([]byte(key))
		out = append(out, Leaf{
			Key: key, Status: statuses[i%len(statuses)], Height: uint64(1 + i%5),
			RecordHash: sha256.Sum256(append(seed[:], 'r')), TxID: sha256.Sum256(append(seed[:], 't')),
		})
	}
	return out
}

func buildVectors(t *testing.T) *vectors {
	leaves := vectorLeaves()
	m := NewMemStore()
	v := &vectors{
		Comment: "baybus license state tree (ledger/state/smt). Regenerate with go test -run TestVectors -update.",
		Empty:   Empty, Leaves: leaves,
	}
	var sets []Set
	for _, l := range leaves {
		sets = append(sets, setOf(t, l))
	}
	var err error
	if v.Root, err = m.Update(sets); err != nil {
		t.Fatal(err)
	}
	add := func(name, key string, leaf *Leaf, p *Proof, valid bool) {
		b, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		v.Cases = append(v.Cases, vector{name, key, leaf, p, hex.EncodeToString(b), valid})
	}
	prove := func(key string) *Proof {
		p, _, _, err := Prove(m, PathOf(key))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for i, l := range leaves[:6] {
		add(fmt.Sprintf("member %d", i), l.Key, &l, prove(l.Key), true)
	}
	var empty, other bool
	for i := 0; !empty || !other; i++ {
		key := fmt.Sprintf("MO/%d", i)
		p := prove(key)
		switch {
		case p.Other == nil && !empty:
			empty = true
			add("absent, empty subtree", key, nil, p, true)
		case p.Other != nil && !other:
			other = true
			add("absent, other leaf in place", key, nil, p, true)
		}
	}
	l := leaves[2] // revoked
	p := prove(l.Key)
	valid := l
	valid.Status = schemas.StatusValid
	add("revoked shown as valid", l.Key, &valid, p, false)
	add("member shown as absent", l.Key, nil, p, false)
	trunc := &Proof{Siblings: p.Siblings[:len(p.Siblings)-1]}
	add("truncated", l.Key, &l, trunc, false)
	tampered := &Proof{Siblings: append([]Hash(nil), p.Siblings...)}
	tampered.Siblings[0][0] ^= 1
	add("tampered sibling", l.Key, &l, tampered, false)
	return v
}

func TestVectors(t *testing.T) {
	path := filepath.Join("testdata", "vectors.json")
	got := buildVectors(t)
	if *update {
		b, err := json.MarshalIndent(got, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want vectors
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if want.Empty != Empty || want.Root != got.Root {
		t.Fatalf("roots changed: empty %s root %s, golden %s %s", Empty, got.Root, want.Empty, want.Root)
	}
	for i, c := range want.Cases {
		t.Run(c.Name, func(t *testing.T) {
			bin, err := c.Proof.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(bin) != c.ProofBinary || c.ProofBinary != got.Cases[i].ProofBinary {
				t.Fatalf("binary proof changed")
			}
			var fromBin Proof
			if b, _ := hex.DecodeString(c.ProofBinary); fromBin.UnmarshalBinary(b) != nil {
				t.Fatal("binary proof does not decode")
			}
			for _, p := range []*Proof{c.Proof, &fromBin} {
				err := VerifyProof(want.Root, c.Key, c.Leaf, p)
				if c.Valid && err != nil {
					t.Fatalf("valid proof refused: %v", err)
				}
				if !c.Valid && !errors.Is(err, ErrInvalidProof) {
					t.Fatalf("invalid proof: got %v", err)
				}
			}
		})
	}
	if *update {
		writeCorpus(t, got)
	}
}

// writeCorpus stores the vectors' proofs and leaves as the seed corpus of
// the fuzz tests, in the format go test reads.
func writeCorpus(t *testing.T, v *vectors) {
	write := func(fuzz string, i int, b []byte) {
		dir := filepath.Join("testdata", "fuzz", fuzz)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range v.Cases {
		b, _ := hex.DecodeString(c.ProofBinary)
		write("FuzzProofUnmarshal", i, b)
	}
	for i, l := range v.Leaves[:4] {
		b, _ := l.MarshalBinary()
		write("FuzzLeafUnmarshal", i, b)
	}
}
