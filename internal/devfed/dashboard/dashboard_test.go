package dashboard_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/internal/devfed/dashboard"
)

// serve sends one request through the dashboard handler.
func serve(t *testing.T, h http.Handler, method, path string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestHandler(t *testing.T) {
	h := dashboard.Handler()
	for _, tc := range []struct {
		method, path string
		status       int
		contentType  string
		bodyHas      string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", `<script type="module" src="/assets/app.js">`},
		{"GET", "/index.html", 200, "text/html; charset=utf-8", "neuron federation"},
		{"HEAD", "/", 200, "text/html; charset=utf-8", ""},
		{"GET", "/assets/app.js", 200, "text/javascript; charset=utf-8", "import"},
		{"GET", "/assets/app.css", 200, "text/css; charset=utf-8", ":root"},
		{"GET", "/assets/favicon.svg", 200, "image/svg+xml", "<svg"},
		{"GET", "/assets/missing.js", 404, "text/plain; charset=utf-8", "no such asset /assets/missing.js"},
		{"GET", "/assets/", 404, "text/plain; charset=utf-8", "no such asset"},
		{"GET", "/elsewhere", 404, "text/plain; charset=utf-8", "the dashboard is at /"},
		{"POST", "/", 405, "text/plain; charset=utf-8", "use GET"},
		{"DELETE", "/assets/app.js", 405, "text/plain; charset=utf-8", "use GET"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			resp := serve(t, h, tc.method, tc.path)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != tc.contentType {
				t.Errorf("Content-Type %q, want %q", ct, tc.contentType)
			}
			if !strings.Contains(string(body), tc.bodyHas) {
				t.Errorf("body lacks %q:\n%.300s", tc.bodyHas, body)
			}
			if tc.status != 200 {
				return
			}
			if tc.method == "HEAD" && len(body) != 0 {
				t.Errorf("HEAD answered a body of %d bytes", len(body))
			}
			for k, want := range map[string]string{"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
				if got := resp.Header.Get(k); got != want {
					t.Errorf("%s %q, want %q", k, got, want)
				}
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			if resp.Header.Get("ETag") == "" || resp.Header.Get("Last-Modified") == "" {
				t.Errorf("no validators: ETag %q Last-Modified %q", resp.Header.Get("ETag"), resp.Header.Get("Last-Modified"))
			}
		})
	}
}

// TestHandler_Revalidation: a browser that has the file gets a 304 without
// a body, and a changed file (another ETag) is served whole.
func TestHandler_Revalidation(t *testing.T) {
	h := dashboard.Handler()
	first := serve(t, h, "GET", "/assets/app.js")
	etag := first.Header.Get("ETag")
	if r := serve(t, h, "GET", "/assets/app.js", "If-None-Match", etag); r.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match %s: status %d, want 304", etag, r.StatusCode)
	}
	if r := serve(t, h, "GET", "/assets/app.js", "If-None-Match", `"stale"`); r.StatusCode != http.StatusOK {
		t.Errorf("stale ETag: status %d, want 200", r.StatusCode)
	}
	if r := serve(t, h, "GET", "/assets/app.js", "If-Modified-Since", first.Header.Get("Last-Modified")); r.StatusCode != http.StatusNotModified {
		t.Errorf("If-Modified-Since: status %d, want 304", r.StatusCode)
	}
	if other := serve(t, h, "GET", "/assets/app.css").Header.Get("ETag"); other == etag {
		t.Errorf("app.js and app.css share the ETag %s", etag)
	}
}

// TestAssetsResolve checks the module graph without a browser: every file
// the page or a module refers to is served, and every served file is used.
func TestAssetsResolve(t *testing.T) {
	h := dashboard.Handler()
	ref := regexp.MustCompile(`(?:src|href)="(/assets/[^"]+)"|from '\./([^']+)'|import '\./([^']+)'`)
	seen := map[string]bool{}
	queue := []string{"/"}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		resp := serve(t, h, "GET", p)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Errorf("%s: status %d (referred to by a page or module)", p, resp.StatusCode)
			continue
		}
		for _, m := range ref.FindAllStringSubmatch(string(body), -1) {
			switch {
			case m[1] != "":
				queue = append(queue, m[1])
			case m[2] != "":
				queue = append(queue, "/assets/"+m[2])
			case m[3] != "":
				queue = append(queue, "/assets/"+m[3])
			}
		}
	}
	err := fs.WalkDir(os.DirFS("static"), "assets", func(name string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !seen["/"+filepath.ToSlash(name)] {
			t.Errorf("static/%s is embedded but nothing refers to it", name)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
