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
	// Rules version 2 verdicts also give the recorded status when it
	// differs (a validity that ended), the holder and the validity end.
	Recorded schemas.Status `json:"recorded,omitempty"`
	Owner    string         `json:"owner,omitempty"`
	ValidTo  string         `json:"validTo,omitempty"`
	// An invalid bundle: the check that refuses it (proof.CheckName), and,
	// if set, the vector a warm verifier sees first.
	Check     string `json:"check,omitempty"`
	WarmAfter string `json:"warmAfter,omitempty"`
}

// goldenSet is one chain's vectors: testdata/ for the chain of rules
// version 1 (prooftest.Build: these vectors predate rules versions and
// must keep verifying as they are), testdata/v2/ for rules version 2.
type goldenSet struct {
	dir       string // under testdata
	build     func(testing.TB, string) *prooftest.Chain
	fresh     []string // the licenses whose fresh proofs are kept
	mutations []mutation
}

var goldenSets = []goldenSet{
	{"", prooftest.Build, []string{"cn-business", "cn-certificate", "hk-business", "mo-certificate", "cn-extra"}, mutations},
	{"v2", prooftest.Build2, []string{"cn-business", "cn-moved", "hk-certificate", "mo-business"}, mutations2},
}

var slugRe = regexp.MustCompile(`[^a-z0-9]+`)

func slug(s string) string {
	return strings.Trim(slugRe.ReplaceAllString(strings.ToLower(s), "-"), "-")
}

// goldenBundles returns every vector of a set with its bundle, from the
// set's chain.
func goldenBundles(t *testing.T, set goldenSet, c *prooftest.Chain) ([]vector, map[string]*baybusproof.Bundle) {
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
			add(validVector(name, vd), b)
		}
	}
	for _, n := range set.fresh {
		b, err := baybusproof.Latest(c, c.Keys[n])
		if err != nil {
			t.Fatal(err)
		}
		add(validVector("fresh-"+n, mustVerify(t, c.Trust, b)), b)
	}
	for _, m := range set.mutations {
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

// validVector is the vector of a valid bundle with its verdict.
func validVector(name string, vd *baybusproof.Verdict) vector {
	v := vector{Name: name, File: "valid/" + name + ".json", Binary: "valid/" + name + ".bin",
		Status: vd.Status, Height: vd.Height, TxHeight: vd.TxHeight}
	if vd.Rules >= 2 {
		v.Owner, v.ValidTo = vd.Owner, vd.ValidTo
		if vd.Recorded != vd.Status {
			v.Recorded = vd.Recorded
		}
	}
	return v
}

func writeGolden(t *testing.T) {
	seeds := map[string][][]byte{}
	for _, set := range goldenSets {
		writeSet(t, set, seeds)
	}
	seeds["FuzzDecodeJSON"] = append(seeds["FuzzDecodeJSON"], []byte(`{"v":1}`), []byte(`{"v":1,"key":"CN/X","headers":[]}`))
	for target, ss := range seeds {
		dir := filepath.Join("testdata", "fuzz", target)
		old, _ := filepath.Glob(filepath.Join(dir, "seed-*")) // the fuzzer's own finds stay
		for _, f := range old {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
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

// writeSet writes a set's vectors, manifest and trust bundle, and adds its
// fuzz seeds to seeds.
func writeSet(t *testing.T, set goldenSet, seeds map[string][][]byte) {
	c := set.build(t, t.TempDir())
	vs, bundles := goldenBundles(t, set, c)
	root := filepath.Join("testdata", set.dir)
	for _, d := range []string{"valid", "invalid"} {
		d = filepath.Join(root, d)
		if err := os.RemoveAll(d); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(path string, data []byte) {
		if err := os.WriteFile(filepath.Join(root, path), data, 0o644); err != nil {
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
	for _, n := range []string{"commit-1-hk-approval-issue", "fresh-cn-business", "signer-counted-twice", "record-changed-by-one-byte",
		"fresh-cn-moved", "fresh-hk-certificate"} {
		b, ok := bundles[n]
		if !ok {
			continue
		}
		js, _ := baybusproof.EncodeJSON(b)
		bin, _ := b.MarshalBinary()
		seeds["FuzzDecodeJSON"] = append(seeds["FuzzDecodeJSON"], js)
		seeds["FuzzDecodeBinary"] = append(seeds["FuzzDecodeBinary"], bin, bin[:len(bin)/2])
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
	checks := map[string]bool{}
	for _, set := range goldenSets {
		t.Run("rules-"+map[string]string{"": "1", "v2": "2"}[set.dir], func(t *testing.T) { goldenSetTest(t, set.dir, checks) })
	}
	for _, want := range []string{"record", "batch-path", "batch-signature", "tx-path", "header", "quorum", "state-proof", "key-not-valid", "fork"} {
		if !checks[want] {
			t.Errorf("no invalid vector for check %q", want)
		}
	}
}

func goldenSetTest(t *testing.T, dir string, checks map[string]bool) {
	readTestdata := func(t *testing.T, path string) []byte { return readTestdata(t, filepath.Join(dir, path)) }
	trust, err := keys.LoadBundle(filepath.Join("testdata", dir, "trust.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(readTestdata(t, "vectors.json"), &vs); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
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
				if got := validVector(v.Name, vd); got != v {
					t.Fatalf("%s: verdict %+v, want %+v", f, got, v)
				}
			}
		})
	}
}

// TestDeterministic: the chains, and so every vector, are the same on every
// build.
func TestDeterministic(t *testing.T) {
	for _, set := range goldenSets {
		deterministic(t, set.build(t, t.TempDir()), set.build(t, t.TempDir()))
	}
}

func deterministic(t *testing.T, a, b *prooftest.Chain) {
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
