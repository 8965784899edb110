package consortium_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/baybus/baybus/schemas/consortium"
)

// TestCreateOpen: Create writes the CA with the keys; Open loads the same
// CA, gives an older directory (made before the CA existed) one, and
// refuses another chain.
func TestCreateOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	c, err := consortium.Create(dir, consortium.Spec{Chain: "gba", Orderers: 4})
	if err != nil {
		t.Fatal(err)
	}
	if c.CA == nil {
		t.Fatal("no CA")
	}
	if _, err := consortium.Create(dir, consortium.Spec{Chain: "gba", Orderers: 4}); !errors.Is(err, consortium.ErrExists) {
		t.Fatalf("second Create: %v", err)
	}
	o, err := consortium.Open(dir, consortium.Spec{Chain: "gba", Orderers: 4})
	if err != nil {
		t.Fatal(err)
	}
	if !o.CA.Certificate().Equal(c.CA.Certificate()) {
		t.Fatal("Open loaded another CA")
	}
	if _, err := consortium.Open(dir, consortium.Spec{Chain: "other"}); !errors.Is(err, consortium.ErrMismatch) {
		t.Fatalf("other chain: %v", err)
	}

	if err := os.RemoveAll(filepath.Join(dir, consortium.TLSDir)); err != nil {
		t.Fatal(err)
	}
	old, err := consortium.Open(dir, consortium.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	if old.CA == nil || old.CA.Certificate().Equal(c.CA.Certificate()) {
		t.Fatal("an older directory got no new CA")
	}
	again, err := consortium.Open(dir, consortium.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	if !again.CA.Certificate().Equal(old.CA.Certificate()) {
		t.Fatal("the CA made for an older directory was not kept")
	}
}
