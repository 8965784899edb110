package archive

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/baybus/baybus/schemas/keys"
)

// Objects is where archived objects are kept: a local directory (Dir) or
// an S3-compatible bucket (S3). Names are slash-separated paths.
type Objects interface {
	// Put stores data under name, durably, replacing nothing: archived
	// objects are named by their content, so a second Put of a name
	// carries the same bytes.
	Put(ctx context.Context, name string, data []byte) error
	// Get returns the object's bytes; an error wrapping ErrNotFound if
	// there is none.
	Get(ctx context.Context, name string) ([]byte, error)
	// List returns the names under prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
}

// Dir keeps objects as files under a directory: each written to a
// temporary file, fsynced, renamed into place, and its directory fsynced.
type Dir struct {
	Path string
}

var _ Objects = Dir{}

func (d Dir) file(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "..") || strings.ContainsRune(name, '\\') {
		return "", fmt.Errorf("%w: object name %q", ErrName, name)
	}
	return filepath.Join(d.Path, filepath.FromSlash(name)), nil
}

// Put implements Objects.
func (d Dir) Put(ctx context.Context, name string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := d.file(name)
	if err != nil {
		return err
	}
	if err := keys.WriteFileAtomic(p, data, 0o640); err != nil {
		return fmt.Errorf("archive: put %s: %w", name, err)
	}
	return nil
}

// Get implements Objects.
func (d Dir) Get(ctx context.Context, name string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := d.file(name)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s in %s", ErrNotFound, name, d.Path)
	}
	if err != nil {
		return nil, fmt.Errorf("archive: get %s: %w", name, err)
	}
	return b, nil
}

// List implements Objects. Temporary files of an interrupted Put are not
// listed.
func (d Dir) List(ctx context.Context, prefix string) ([]string, error) {
	var names []string
	err := filepath.WalkDir(d.Path, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == d.Path {
				return filepath.SkipAll // an archive not yet written to
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			return nil
		}
		rel, err := filepath.Rel(d.Path, p)
		if err != nil {
			return err
		}
		if name := filepath.ToSlash(rel); strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("archive: list %s: %w", d.Path, err)
	}
	sort.Strings(names)
	return names, nil
}
