package proof_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	baybusproof "github.com/baybus/baybus/ledger/proof"
	"github.com/baybus/baybus/ledger/proof/prooftest"
	"github.com/baybus/baybus/schemas"
	"github.com/baybus/baybus/schemas/keys"
)

var update = flag.Bool("update", false, "rewrite testdata/ (vectors, trust bundle, fuzz seeds) from the deterministic chain")

// vector is one entry of testdata/vectors.json.
type vector struct {
	Name   string `json:"name"`
	File   string `json:"file"`             // the bundle in JSON
	Binary string `json:"binary,omitempty"` // the same bundle in binary
	// A valid bundle's verdict.
	Status   schemas.Status `json:"status,omitempty"`
	Height   uint64         `json:"height,omitempty"`
	TxHeight uint64         `json:"txHeight,omitempty"`
	// An invalid bundle: the check that refuses it (proof.CheckName), and,
	// if set, the vector a warm verifier sees first.
	Check     string `json:"check,omitempty"`
	WarmAfter string `json:"warmAfter,omitempty"`
}

// freshVectors are the licenses whose fresh proofs are kept as vectors.
var freshVectors = []string{"cn-business", "cn-certificate", "hk-business", "mo-certificate", "cn-extra"}

var slugRe = regexp.MustCompile(`[^a-z0-9]+`)

func slug(s string) string {
	return strings.Trim(slugRe.ReplaceAllString(strings.ToLower(s), "-"), "-")
}

// goldenBundles returns every vector with its bundle, from the chain.
func goldenBundles(t *testing.T, c *prooftest.Chain) ([]vector, map[string]*baybusproof.Bundle) {
	names := map[string]string{}
	for n, k := range c.Keys {
		names[k] = n
	}
	var vs []vector
	bundles := map[string]*baybusproof.Bundle{}
	add := func(v vector, b *baybusproof.Bundle) {
		bundles[v.Name] = b
		vs = append(vs, v)
	}
	for hi, bs := range c.Committed {
		for _, b := range bs {
			tx, err := schemas.DecodeTx(b.Tx.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			vd := mustVerify(t, c.Trust, b)
			name := fmt.Sprintf("commit-%d-%s-%s", hi+1, names[b.Key], tx.Action)
			add(vector{Name: name, File: "valid/" + name + ".json", Binary: "valid/" + name + ".bin",
				Status: vd.Status, Height: vd.Height, TxHeight: vd.TxHeight}, b)
		}
	}
	for _, n := range freshVectors {
		b, err := baybusproof.Latest(c, c.Keys[n])
		if err != nil {
			t.Fatal(err)
		}
		vd := mustVerify(t, c.Trust, b)
		name := "fresh-" + n
		add(vector{Name: name, File: "valid/" + name + ".json", Binary: "valid/" + name + ".bin",
			Status: vd.Status, Height: vd.Height, TxHeight: vd.TxHeight}, b)
	}
	for _, m := range mutations {
		b := clone(t, m.base(c, t))
		m.mutate(c, t, b)
		name := slug(m.name)
		add(vector{Name: name, File: "invalid/" + name + ".json", Check: baybusproof.CheckName(m.want)}, b)
	}
	forked := clone(t, c.Find(t, 1, "cn-business"))
	forked.Headers[0] = c.Fork(1)
	add(vector{Name: "fork-of-a-trusted-header", File: "invalid/fork-of-a-trusted-header.json", Check: "fork",
		WarmAfter: "commit-1-cn-business-issue"}, forked)
	return vs, bundles
}

func writeGolden(t *testing.T) {
	c := build(t)
	vs, bundles := goldenBundles(t, c)
	for _, d := range []string{"testdata/valid", "testdata/invalid"} {
		if err := os.RemoveAll(d); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(path string, data []byte) {
		if err := os.WriteFile(filepath.Join("testdata", path), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range vs {
		js, err := baybusproof.EncodeJSON(bundles[v.Name])
		if err != nil {
			t.Fatal(err)
		}
		write(v.File, js)
		if v.Binary != "" {
			bin, err := bundles[v.Name].MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			write(v.Binary, bin)
		}
	}
	manifest, _ := json.MarshalIndent(vs, "", "  ")
	write("vectors.json", append(manifest, '\n'))
	trust, err := c.Trust.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	write("trust.json", trust)

	// Fuzz seeds: valid and invalid bundles in both forms, and cut ones.
	seeds := map[string][][]byte{}
	for _, n := range []string{"commit-1-hk-approval-issue", "fresh-cn-business", "signer-counted-twice", "record-changed-by-one-byte"} {
		b := bundles[n]
		js, _ := baybusproof.EncodeJSON(b)
		bin, _ := b.MarshalBinary()
		seeds["FuzzDecodeJSON"] = append(seeds["FuzzDecodeJSON"], js)
		seeds["FuzzDecodeBinary"] = append(seeds["FuzzDecodeBinary"], bin, bin[:len(bin)/2])
	}
	seeds["FuzzDecodeJSON"] = append(seeds["FuzzDecodeJSON"], []byte(`{"v":1}`), []byte(`{"v":1,"key":"CN/X","headers":[]}`))
	for target, ss := range seeds {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range ss {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func readTestdata(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", path))
	if err != nil {
		t.Fatalf("%v (regenerate with: go test ./ledger/proof -run TestGolden -update)", err)
	}
	return raw
}

// TestGolden checks the vectors in testdata/ with nothing but
// testdata/trust.json: each valid one gives the verdict recorded, in both
// encodings; each invalid one fails the check recorded. Decoding and
// encoding again gives the same bytes.
func TestGolden(t *testing.T) {
	if *update {
		writeGolden(t)
	}
	trust, err := keys.LoadBundle(filepath.Join("testdata", "trust.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(readTestdata(t, "vectors.json"), &vs); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	checks := map[string]bool{}
	for _, v := range vs {
		files[v.Name] = v.File
	}
	decode := func(t *testing.T, path string) *baybusproof.Bundle {
		raw := readTestdata(t, path)
		b, err := baybusproof.Decode(raw)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var again []byte
		if strings.HasSuffix(path, ".bin") {
			again, err = b.MarshalBinary()
		} else {
			again, err = baybusproof.EncodeJSON(b)
		}
		if err != nil || !bytes.Equal(again, raw) {
			t.Fatalf("%s: encoding again gives other bytes (%v)", path, err)
		}
		return b
	}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			verify := func(b *baybusproof.Bundle) (*baybusproof.Verdict, error) { return baybusproof.Verify(trust, b) }
			if v.WarmAfter != "" {
				w := baybusproof.NewVerifier(trust, 0)
				if _, err := w.Verify(decode(t, files[v.WarmAfter])); err != nil {
					t.Fatal(err)
				}
				verify = w.Verify
			}
			forms := []string{v.File}
			if v.Binary != "" {
				forms = append(forms, v.Binary)
			}
			for _, f := range forms {
				vd, err := verify(decode(t, f))
				if v.Check != "" {
					if got := baybusproof.CheckName(err); got != v.Check {
						t.Fatalf("%s: check %q (%v), want %q", f, got, err, v.Check)
					}
					checks[v.Check] = true
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				if vd.Status != v.Status || vd.Height != v.Height || vd.TxHeight != v.TxHeight {
					t.Fatalf("%s: %s at %d (tx %d), want %s at %d (tx %d)", f, vd.Status, vd.Height, vd.TxHeight, v.Status, v.Height, v.TxHeight)
				}
			}
		})
	}
	for _, want := range []string{"record", "batch-path", "batch-signature", "tx-path", "header", "quorum", "state-proof", "key-not-valid", "fork"} {
		if !checks[want] {
			t.Errorf("no invalid vector for check %q", want)
		}
	}
}

// TestDeterministic: the chain, and so every vector, is the same on every
// build.
func TestDeterministic(t *testing.T) {
	a, b := build(t), build(t)
	for hi := range a.Committed {
		for i := range a.Committed[hi] {
			x, _ := a.Committed[hi][i].MarshalBinary()
			y, _ := b.Committed[hi][i].MarshalBinary()
			if !bytes.Equal(x, y) {
				t.Fatalf("block %d bundle %d differs between builds", hi+1, i)
			}
		}
	}
}
