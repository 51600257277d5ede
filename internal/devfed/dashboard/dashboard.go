// Package dashboard is the development federation's admin front end: plain
// HTML, one CSS file and vanilla JavaScript modules, embedded in the binary so
// `neuron federation serve` needs no files on disk and no build step. The page
// talks only to the admin API of the same origin (internal/devfed); it holds no
// secrets itself, the admin token comes from the user. The Go side only serves
// the embedded files; it imports only the standard library and must not import
// devfed, whose API is the page's one way in.
package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// contentTypes maps the extensions the dashboard ships to their media types.
// It is explicit rather than mime.TypeByExtension so the answer does not
// depend on the host's /etc/mime.types (a wrong type for a module script
// makes browsers refuse it).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
}

// securityPolicy keeps the page to its own origin: no inline scripts, no
// third-party hosts, no framing (the page acts with the admin token).
const securityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// asset is one embedded file ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// handler serves the embedded files; built once by Handler.
type handler struct {
	index  asset
	assets map[string]asset // by URL path, e.g. "/assets/app.js"
	// modTime is the process start: embed.FS files carry no time, and a
	// stable Last-Modified per process lets conditional requests work.
	modTime time.Time
}

// Handler returns the dashboard: index.html at "/" and the files of
// static/assets under "/assets/". Every response is revalidated by the
// browser (Cache-Control: no-cache) and carries a content-hash ETag, so a
// rebuilt binary never serves stale scripts while unchanged files cost a 304.
// Other paths answer 404; methods other than GET and HEAD answer 405.
func Handler() http.Handler {
	h := &handler{assets: map[string]asset{}, modTime: time.Now().UTC().Truncate(time.Second)}
	err := fs.WalkDir(static, "static", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := static.ReadFile(name)
		if err != nil {
			return fmt.Errorf("read embedded %s: %w", name, err)
		}
		sum := sha256.Sum256(body)
		ct, ok := contentTypes[path.Ext(name)]
		if !ok {
			ct = "application/octet-stream"
		}
		a := asset{body: body, contentType: ct, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
		rel := strings.TrimPrefix(name, "static")
		if rel == "/index.html" {
			h.index = a
		} else {
			h.assets[rel] = a
		}
		return nil
	})
	if err != nil || h.index.body == nil {
		// The files are compiled in; failing here is a build defect.
		panic(fmt.Sprintf("dashboard: embedded files incomplete (index.html present: %t): %v", h.index.body != nil, err))
	}
	return h
}

// ServeHTTP serves one embedded file.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var a asset
	switch p := r.URL.Path; {
	case p == "/" || p == "/index.html":
		a = h.index
	case strings.HasPrefix(p, "/assets/"):
		var ok bool
		if a, ok = h.assets[p]; !ok {
			http.Error(w, "dashboard: no such asset "+p, http.StatusNotFound)
			return
		}
	default:
		http.Error(w, "dashboard: no page at "+p+"; the dashboard is at /", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "dashboard: method "+r.Method+" not allowed; use GET", http.StatusMethodNotAllowed)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.contentType)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", a.etag)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Content-Security-Policy", securityPolicy)
	http.ServeContent(w, r, "", h.modTime, bytes.NewReader(a.body))
}
