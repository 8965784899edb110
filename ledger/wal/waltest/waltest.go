// Package waltest holds test helpers for code that must read a log
// directory without writing to it.
package waltest

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Fingerprint describes every file under dir: name, mode, size,
// modification time and SHA-256 of the content. Two equal fingerprints mean
// nothing under dir was written, created, removed, renamed or cut.
func Fingerprint(t testing.TB, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %v %d %d", path, fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if !d.IsDir() {
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " %x", sha256.Sum256(raw))
		}
		b.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// Unchanged runs fn and fails the test if it changed anything under dir.
func Unchanged(t testing.TB, dir string, fn func()) {
	t.Helper()
	before := Fingerprint(t, dir)
	fn()
	if after := Fingerprint(t, dir); after != before {
		t.Fatalf("%s changed:\nbefore:\n%s\nafter:\n%s", dir, before, after)
	}
}
