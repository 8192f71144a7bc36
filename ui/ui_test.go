package ui_test

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

	"github.com/perdure/perdure/server"
	"github.com/perdure/perdure/server/servertest"
	"github.com/perdure/perdure/ui"
)

type resp struct {
	status int
	header http.Header
	body   string
}

func get(t *testing.T, h http.Handler, method, path string) resp {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return resp{rec.Code, rec.Result().Header, string(b)}
}

var assetRe = regexp.MustCompile(`/assets/([0-9a-f]{12})/js/app\.js`)

func TestPagesAndAssets(t *testing.T) {
	h := ui.Handler(ui.Options{Title: "Acme <Workflows>"})
	index := get(t, h, "GET", "/")
	if index.status != 200 || !strings.HasPrefix(index.header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", index.status, index.header.Get("Content-Type"))
	}
	if !strings.Contains(index.body, "<title>Acme &lt;Workflows&gt;</title>") {
		t.Fatalf("title not escaped into the page:\n%s", index.body)
	}
	m := assetRe.FindStringSubmatch(index.body)
	if m == nil {
		t.Fatalf("index.html does not load the versioned app.js:\n%s", index.body)
	}
	version := m[1]
	for _, hdr := range []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy"} {
		if index.header.Get(hdr) == "" {
			t.Errorf("GET / lacks %s", hdr)
		}
	}
	csp := index.header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") || strings.Contains(csp, "http") {
		t.Errorf("CSP allows more than this origin: %q", csp)
	}
	if cc := index.header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("index Cache-Control %q, want no-cache", cc)
	}

	// Page paths of the application all serve index.html.
	for _, p := range []string{"/instances/order-1", "/instances/a%3Ab", "/instances", "/unknown/page"} {
		if r := get(t, h, "GET", p); r.status != 200 || r.body != index.body {
			t.Errorf("GET %s: %d, want the application", p, r.status)
		}
	}
	// HEAD works; other methods do not.
	if r := get(t, h, "HEAD", "/instances/x"); r.status != 200 {
		t.Errorf("HEAD: %d", r.status)
	}
	if r := get(t, h, "POST", "/"); r.status != 405 || r.header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: %d Allow %q", r.status, r.header.Get("Allow"))
	}

	js := get(t, h, "GET", "/assets/"+version+"/js/app.js")
	if js.status != 200 || js.header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Fatalf("app.js: %d %q", js.status, js.header.Get("Content-Type"))
	}
	if cc := js.header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Errorf("current assets are not cached for good: %q", cc)
	}
	if r := get(t, h, "GET", "/assets/000000000000/js/app.js"); r.status != 200 || r.header.Get("Cache-Control") != "no-cache" {
		t.Errorf("an asset of another version: %d %q", r.status, r.header.Get("Cache-Control"))
	}
	css := get(t, h, "GET", "/assets/"+version+"/css/app.css")
	if css.status != 200 || !strings.HasPrefix(css.header.Get("Content-Type"), "text/css") {
		t.Errorf("app.css: %d %q", css.status, css.header.Get("Content-Type"))
	}
	for _, p := range []string{"/assets/" + version + "/nope.js", "/assets/" + version + "/../ui.go", "/assets/" + version + "/index.html", "/assets/"} {
		if r := get(t, h, "GET", p); r.status != 404 {
			t.Errorf("GET %s: %d, want 404", p, r.status)
		}
	}
	// Revalidation of the page answers 304.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("If-None-Match", index.header.Get("ETag"))
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("revalidation: %d, want 304", rec.Code)
	}
	if r := get(t, h, "GET", "/favicon.ico"); r.status != 200 || r.header.Get("Content-Type") != "image/svg+xml" {
		t.Errorf("favicon: %d %q", r.status, r.header.Get("Content-Type"))
	}
}

// The UI never answers for the API's and the node's paths.
func TestReservedPaths(t *testing.T) {
	h := ui.Handler(ui.Options{})
	for _, p := range []string{"/api", "/api/", "/api/v2/things", "/v1.0", "/v1.0-beta1/workflows", "/healthz", "/metrics", "/metrics/x"} {
		r := get(t, h, "GET", p)
		if r.status != 404 || !strings.Contains(r.body, "ROUTE_NOT_FOUND") {
			t.Errorf("GET %s: %d %s, want a JSON 404", p, r.status, r.body)
		}
	}
}

// Mounted at "/" of the API server, the UI serves pages and the API keeps
// its routes, including its JSON 404s and 405s.
func TestMountedOnServer(t *testing.T) {
	env := servertest.Start(t, func(c *server.Config) {
		c.Extra = map[string]http.Handler{"/": ui.Handler(ui.Options{})}
	})
	check := func(method, path string, status int, contains string) {
		t.Helper()
		req, _ := http.NewRequest(method, env.URL+path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != status || !strings.Contains(string(b), contains) {
			t.Errorf("%s %s: %d %.200s; want %d with %q", method, path, res.StatusCode, b, status, contains)
		}
	}
	check("GET", "/", 200, `<div id="toasts"`)
	check("GET", "/instances/greet-1", 200, `<div id="toasts"`)
	check("GET", "/api/v1/workflows", 200, `"Greet"`)
	check("GET", "/api/v1/nope", 404, "ROUTE_NOT_FOUND")
	check("DELETE", "/api/v1/workflows", 405, "METHOD_NOT_ALLOWED")
	check("GET", "/v1.0-beta1/nope", 404, "ERR_NOT_FOUND")
	check("GET", "/healthz", 200, `"ok"`)
	check("POST", "/healthz", 404, "ROUTE_NOT_FOUND")
	check("GET", "/metrics", 404, "ROUTE_NOT_FOUND")
}

// Dir serves the files of a directory, uncached, for UI development.
func TestDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("static")); err != nil {
		t.Fatal(err)
	}
	h := ui.Handler(ui.Options{Dir: dir})
	if err := os.WriteFile(filepath.Join(dir, "js", "app.js"), []byte("// edited"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := get(t, h, "GET", "/assets/dev/js/app.js")
	if r.status != 200 || r.body != "// edited" || r.header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("dev asset: %d %q %q", r.status, r.body, r.header.Get("Cache-Control"))
	}
	if idx := get(t, h, "GET", "/"); !strings.Contains(idx.body, "/assets/dev/js/app.js") {
		t.Fatalf("dev index: %s", idx.body)
	}
}

// No asset refers to another origin: the UI works offline.
func TestNoExternalReferences(t *testing.T) {
	ext := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}[/"')]`)
	err := fs.WalkDir(os.DirFS("static"), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(filepath.Join("static", p))
		if err != nil {
			return err
		}
		// The SVG namespace is a name, never fetched.
		text := strings.ReplaceAll(string(b), "http://www.w3.org/2000/svg", "")
		for _, m := range ext.FindAllString(text, -1) {
			t.Errorf("%s refers to another origin: %s", p, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
