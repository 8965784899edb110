// Command wasmgen builds the explorer's verifier (gateway/explorer/verifier/wasm)
// for GOOS=js GOARCH=wasm into the explorer's embedded bundle:
// web/verify.wasm.gz, web/wasm_exec.js (the Go runtime's loader, which must
// match the toolchain that built the module) and web/verify.version (that
// toolchain). `go generate ./gateway/explorer` runs it; with -check it
// builds into a temporary directory instead and fails if the committed
// bundle differs, naming the command that brings it up to date.
//
// The build is reproducible: -trimpath, no VCS stamp, no build id, and a
// gzip stream without name or time, so the same sources and toolchain give
// the same bytes.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

const pkg = "github.com/baybus/baybus/gateway/explorer/verifier/wasm"

func main() {
	check := flag.Bool("check", false, "build into a temporary directory and compare with the committed bundle")
	dir := flag.String("dir", "web", "the bundle's directory")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := run(ctx, *dir, *check); err != nil {
		fmt.Fprintln(os.Stderr, "wasmgen:", err)
		os.Exit(1)
	}
}

// files are the bundle's generated files, by name.
func build(ctx context.Context) (map[string][]byte, error) {
	tmp, err := os.MkdirTemp("", "wasmgen")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "verify.wasm")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s: %w\n%s", pkg, err, msg)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(wasm); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	goroot, err := exec.CommandContext(ctx, "go", "env", "GOROOT").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOROOT: %w", err)
	}
	loader, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		return nil, err
	}
	version, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOVERSION: %w", err)
	}
	return map[string][]byte{
		"verify.wasm.gz": gz.Bytes(),
		"wasm_exec.js":   loader,
		"verify.version": []byte(strings.TrimSpace(string(version)) + "\n"),
	}, nil
}

func run(ctx context.Context, dir string, check bool) error {
	files, err := build(ctx)
	if err != nil {
		return err
	}
	if !check {
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				return err
			}
		}
		return nil
	}
	var stale []string
	for name, b := range files {
		old, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if name == "verify.wasm.gz" {
			// Compare what the browser runs, not the compressor's output.
			if old, err = gunzip(old); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if b, err = gunzip(b); err != nil {
				return err
			}
		}
		if !bytes.Equal(old, b) {
			stale = append(stale, name)
		}
	}
	if len(stale) > 0 {
		return fmt.Errorf("the explorer's verifier bundle is stale (%s differ from a build of the current sources with %s): run `go generate ./gateway/explorer` and commit %s",
			strings.Join(stale, ", "), runtime.Version(), filepath.Join("gateway/explorer", dir))
	}
	return nil
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		return nil, errors.Join(err, zr.Close())
	}
	return out, zr.Close()
}
