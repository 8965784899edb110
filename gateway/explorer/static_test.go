package explorer

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestVerifierBundleIsFresh rebuilds the verifier from the current sources
// and compares it with the committed bundle (web/verify.wasm.gz), so the
// page never verifies with older code than `baybus verify`. The bundle
// is committed, not built at test time, because `go build ./cmd/baybus`
// must give a binary that serves it with no toolchain for another
// platform at hand; a build is reproducible only with the toolchain that
// made it, so another one skips (the bundle names it in verify.version).
func TestVerifierBundleIsFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the verifier for GOOS=js GOARCH=wasm")
	}
	want, err := os.ReadFile("web/verify.version")
	if err != nil {
		t.Fatal(err)
	}
	have, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		t.Skipf("go env: %v", err)
	}
	if strings.TrimSpace(string(have)) != strings.TrimSpace(string(want)) {
		t.Skipf("the bundle was built with %s, this toolchain is %s: rebuilding cannot give the same bytes (run `go generate ./gateway/explorer` to move it to this one)",
			strings.TrimSpace(string(want)), strings.TrimSpace(string(have)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "run", "./internal/wasmgen", "-dir", "web", "-check").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

func TestStaticFiles(t *testing.T) {
	mux := http.NewServeMux()
	RegisterStatic(mux)
	get := func(path string, h map[string]string) *http.Response {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec.Result()
	}
	page := get("/", nil)
	if page.StatusCode != http.StatusOK || !strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(page.Header.Get("Content-Security-Policy"), "connect-src 'self'") {
		t.Fatalf("GET /: %d %v", page.StatusCode, page.Header)
	}
	// The verifier: compressed for a browser, inflated for a client that
	// does not take gzip; the same module either way.
	gz := get("/explorer/verify.wasm", map[string]string{"Accept-Encoding": "gzip, deflate, br"})
	if gz.StatusCode != http.StatusOK || gz.Header.Get("Content-Encoding") != "gzip" || gz.Header.Get("Content-Type") != "application/wasm" {
		t.Fatalf("verify.wasm (gzip): %d %v", gz.StatusCode, gz.Header)
	}
	zr, err := gzip.NewReader(gz.Body)
	if err != nil {
		t.Fatal(err)
	}
	inflated, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	plain := get("/explorer/verify.wasm", map[string]string{"Accept-Encoding": "gzip;q=0"})
	body, _ := io.ReadAll(plain.Body)
	if plain.Header.Get("Content-Encoding") != "" || !bytes.Equal(body, inflated) || !bytes.HasPrefix(body, []byte("\x00asm")) {
		t.Fatalf("verify.wasm (identity): %v, %d bytes", plain.Header, len(body))
	}
	// Revalidation is cheap.
	etag := get("/explorer/app.js", nil).Header.Get("ETag")
	if r := get("/explorer/app.js", map[string]string{"If-None-Match": etag}); etag == "" || r.StatusCode != http.StatusNotModified {
		t.Fatalf("app.js with its ETag: %d (ETag %q)", r.StatusCode, etag)
	}
	for _, p := range []string{"/explorer/verify.wasm.gz", "/explorer/verify.version", "/explorer/index.html", "/explorer/", "/explorer/web/app.js"} {
		if r := get(p, nil); r.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, r.StatusCode)
		}
	}
}
