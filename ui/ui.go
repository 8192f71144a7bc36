// Package ui is Perdure's web UI: a single-page application, written in
// plain JavaScript, HTML and CSS and embedded in the binary, that lists
// workflow instances, shows one instance (details, what it waits on, its
// execution as a diagram, its history as a timeline) and operates it
// (start, raise an event, suspend, resume, terminate, purge) through the
// native HTTP API under /api/v1.
//
// Nothing is fetched from elsewhere: no CDN, no web font, no build step.
// Mount the handler at "/" next to the API:
//
//	h, _ := server.New(server.Config{Client: c, Extra: map[string]http.Handler{"/": ui.Handler(ui.Options{})}})
//
// The handler serves the application's assets under /assets/<version>/
// (cached for a year: the version changes with their content) and
// index.html for every other page path (/, /instances/{id}, …), so that
// links into the application work. It never answers for the API's
// prefixes (/api/, /v1.0…, /healthz, /metrics): requests there that reach
// it get a 404.
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"strings"
	"time"
)

// zeroTime leaves Last-Modified out: the ETag (the content version) serves
// conditional requests.
var zeroTime time.Time

//go:embed static
var static embed.FS

// Options configures the UI.
type Options struct {
	// Title is shown in the browser tab and the header; default "Perdure".
	Title string
	// Dir, when set, serves the assets from this directory (ui/static of
	// a checkout) instead of the embedded ones, re-read on every request
	// and never cached: edit the files and reload the page. The
	// environment variable PERDURE_UI_DIR sets it too.
	Dir string
}

// contentSecurityPolicy allows nothing but this origin: no inline script,
// no external script, style, font, image or connection.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// assetsPrefix is the path under which the static files are served,
// followed by their version.
const assetsPrefix = "/assets/"

// reserved are the path prefixes of the API and the node: the UI never
// answers them with a page.
var reserved = []string{"/api/", "/v1.0", "/healthz", "/metrics"}

type handler struct {
	files   fs.FS
	version string
	index   []byte
	dev     bool
	title   string
}

// Handler returns the UI's http.Handler.
func Handler(opts Options) http.Handler {
	h := &handler{title: opts.Title}
	if h.title == "" {
		h.title = "Perdure"
	}
	if opts.Dir == "" {
		opts.Dir = os.Getenv("PERDURE_UI_DIR")
	}
	if opts.Dir != "" {
		h.files, h.dev, h.version = os.DirFS(opts.Dir), true, "dev"
		return h
	}
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is part of the binary
	}
	h.files = sub
	h.version = contentVersion(sub)
	idx, err := h.renderIndex()
	if err != nil {
		panic(err)
	}
	h.index = idx
	return h
}

// contentVersion hashes every embedded file: it names the assets' URL
// prefix, so that a new binary's assets are never taken from a cache.
func contentVersion(files fs.FS) string {
	sum := sha256.New()
	_ = fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		fmt.Fprintf(sum, "%s %d\n", p, len(b))
		sum.Write(b)
		return nil
	})
	return hex.EncodeToString(sum.Sum(nil))[:12]
}

// renderIndex fills index.html's placeholders: the assets' prefix and the
// title.
func (h *handler) renderIndex() ([]byte, error) {
	b, err := fs.ReadFile(h.files, "index.html")
	if err != nil {
		return nil, err
	}
	cfg, _ := json.Marshal(map[string]string{"title": h.title, "api": "/api/v1"})
	r := strings.NewReplacer(
		"{{ASSETS}}", assetsPrefix+h.version,
		"{{TITLE}}", html.EscapeString(h.title),
		"{{CONFIG}}", html.EscapeString(string(cfg)),
	)
	return []byte(r.Replace(string(b))), nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	for _, pre := range reserved {
		if p == strings.TrimSuffix(pre, "/") || strings.HasPrefix(p, pre) {
			notFound(w, p)
			return
		}
	}
	setSecurityHeaders(w.Header())
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "405 method not allowed: the web UI only serves pages (GET)", http.StatusMethodNotAllowed)
		return
	}
	switch {
	case strings.HasPrefix(p, assetsPrefix):
		h.serveAsset(w, r, strings.TrimPrefix(p, assetsPrefix))
	case p == "/favicon.ico":
		h.serveFile(w, r, "favicon.svg", h.cacheControl(false))
	default:
		h.serveIndex(w, r)
	}
}

// serveAsset serves /assets/<version>/<file>. A file of the current
// version is cached for a year; another version (a page loaded before an
// upgrade) is served but not cached.
func (h *handler) serveAsset(w http.ResponseWriter, r *http.Request, rest string) {
	version, name, ok := strings.Cut(rest, "/")
	name = path.Clean("/" + name)[1:]
	if !ok || name == "" || name == "index.html" {
		http.NotFound(w, r)
		return
	}
	h.serveFile(w, r, name, h.cacheControl(version == h.version))
}

func (h *handler) cacheControl(immutable bool) string {
	if immutable && !h.dev {
		return "public, max-age=31536000, immutable"
	}
	return "no-cache"
}

func (h *handler) serveFile(w http.ResponseWriter, r *http.Request, name, cache string) {
	b, err := fs.ReadFile(h.files, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) { // the system's MIME table may lack or differ on these
	case ".js":
		ctype = "text/javascript; charset=utf-8"
	case ".css":
		ctype = "text/css; charset=utf-8"
	case ".svg":
		ctype = "image/svg+xml"
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", cache)
	h.setETag(w.Header(), name)
	http.ServeContent(w, r, "", zeroTime, bytes.NewReader(b))
}

// serveIndex answers every page path with the application, which routes
// in the browser.
func (h *handler) serveIndex(w http.ResponseWriter, r *http.Request) {
	idx := h.index
	if h.dev {
		var err error
		if idx, err = h.renderIndex(); err != nil {
			http.Error(w, "index.html: "+err.Error(), http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	h.setETag(w.Header(), "index.html")
	http.ServeContent(w, r, "", zeroTime, bytes.NewReader(idx))
}

// setETag tags embedded files with the content version, so that a
// revalidation (no-cache) is answered 304 until the binary changes.
func (h *handler) setETag(hd http.Header, name string) {
	if !h.dev {
		hd.Set("ETag", `"`+h.version+"-"+name+`"`)
	}
}

func setSecurityHeaders(hd http.Header) {
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
}

// notFound answers a path the UI must not serve, in the API's error shape.
func notFound(w http.ResponseWriter, p string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusNotFound)
	body, _ := json.Marshal(map[string]any{"error": map[string]string{"code": "ROUTE_NOT_FOUND",
		"message": "no route " + p + ": see GET /api/v1/openapi.json for the routes"}})
	w.Write(body)
}
