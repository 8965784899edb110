package explorer

//go:generate go run ./internal/wasmgen -dir web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/baybus/baybus/gateway/api"
)

// The explorer's bundle: the page, its script and style, the verifier
// compiled to WebAssembly (gzip-compressed; see internal/wasmgen) with the
// Go runtime's loader, and the OpenAPI document. Nothing is fetched from
// anywhere else.
//
//go:embed web openapi.json
var bundle embed.FS

// wasmName is the verifier's file name in the page.
const wasmName = "verify.wasm"

// csp keeps the page to its own origin: scripts and styles from the
// bundle, WebAssembly compiled from it, requests to this gateway only.
const csp = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// RegisterStatic adds the page (GET /), its files (GET /explorer/...) and
// the OpenAPI document (GET /openapi.json) to mux. They carry no chain
// data and need no credential.
func RegisterStatic(mux Mux) {
	mux.Handle("GET "+api.RouteExplorer, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serveFile(w, r, "web/index.html")
	}))
	mux.Handle("GET "+api.RouteExplorerFiles, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("file")
		if name == wasmName {
			serveWasm(w, r)
			return
		}
		if strings.Contains(name, "/") || name == "" || name == "index.html" || strings.HasSuffix(name, ".gz") || name == "verify.version" {
			http.NotFound(w, r)
			return
		}
		serveFile(w, r, "web/"+name)
	}))
	mux.Handle("GET "+api.RouteOpenAPI, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serveFile(w, r, "openapi.json")
	}))
}

// OpenAPI returns the OpenAPI 3.1 document the gateway serves.
func OpenAPI() []byte {
	raw, _ := bundle.ReadFile("openapi.json") // go:embed makes it part of every build
	return raw
}

// modTime is what the bundle's files report: embedded files have none,
// and an ETag does the caching.
var modTime = time.Time{}

func serveFile(w http.ResponseWriter, r *http.Request, name string) {
	raw, err := bundle.ReadFile(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	ctype := mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) {
	case ".js":
		ctype = "text/javascript; charset=utf-8"
	case ".json":
		ctype = api.MediaJSON
	}
	h.Set("Content-Type", ctype)
	headers(h, raw)
	http.ServeContent(w, r, "", modTime, bytes.NewReader(raw))
}

// serveWasm serves the verifier, compressed to a client that accepts gzip
// (every browser), inflated otherwise.
func serveWasm(w http.ResponseWriter, r *http.Request) {
	gz, err := bundle.ReadFile("web/" + wasmName + ".gz")
	if err != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/wasm")
	h.Add("Vary", "Accept-Encoding")
	headers(h, gz)
	if acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		http.ServeContent(w, r, "", modTime, bytes.NewReader(gz))
		return
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		http.Error(w, "explorer: the embedded verifier is corrupt", http.StatusInternalServerError)
		return
	}
	defer zr.Close()
	h.Del("ETag")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = io.Copy(w, zr)
	}
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

func headers(h http.Header, raw []byte) {
	sum := sha256.Sum256(raw)
	h.Set("ETag", `"`+hex.EncodeToString(sum[:12])+`"`)
	h.Set("Cache-Control", "no-cache") // revalidate: the ETag makes it cheap
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}
