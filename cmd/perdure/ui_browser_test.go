package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// findChromium returns the path of a Chromium or Chrome binary, or "".
func findChromium() string {
	if p := os.Getenv("PERDURE_CHROMIUM"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browser is a headless Chromium tab pointed at a perdure dev process.
type browser struct {
	t        *testing.T
	ctx      context.Context
	base     string
	shots    string // where screenshots go
	console  *lockedBuffer
	failures *lockedBuffer // uncaught exceptions and console errors
}

// newBrowser starts headless Chromium with a fresh profile and no network
// beyond what the page asks for; it is closed when the test ends.
func newBrowser(t *testing.T, base string, width, height int) *browser {
	t.Helper()
	path := findChromium()
	if path == "" {
		t.Skip("browser tests need Chromium: none found at /usr/bin/chromium or as chromium, chromium-browser, google-chrome " +
			"(install Debian's chromium, or set PERDURE_CHROMIUM)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.WindowSize(width, height),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx, base: base, console: &lockedBuffer{}, failures: &lockedBuffer{}}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, strings.Trim(string(a.Value), `"`)+a.Description)
			}
			line := fmt.Sprintf("console.%s: %s\n", e.Type, strings.Join(parts, " "))
			b.console.Write([]byte(line))
			if e.Type == "error" {
				b.failures.Write([]byte(line))
			}
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			b.failures.Write([]byte("exception: " + msg + "\n"))
		}
	}); err != nil {
		t.Fatal(err)
	}
	return b
}

// do runs actions, failing the test with the page's text on error.
func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fatalf("browser: %v", err)
	}
}

// open loads a page of the UI and waits for its main heading.
func (b *browser) open(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base + path))
	b.waitJS(`!!document.querySelector('main h1')`, 10*time.Second)
}

// eval evaluates a JavaScript expression (awaiting a promise) and decodes
// its JSON value into T.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](`(async () => JSON.stringify(await (async () => (`+expr+`))()))()`,
		func(p *runtime.EvaluateParams) { p.AwaitPromise = new(true) }))
	if err != nil {
		b.fatalf("evaluate %s: %v", expr, err)
	}
	var s string
	var out T
	if err := json.Unmarshal(raw, &s); err != nil {
		b.fatalf("evaluate %s: %s: %v", expr, raw, err)
	}
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		b.fatalf("evaluate %s: %s: %v", expr, s, err)
	}
	return out
}

// waitJS waits until a JavaScript expression is truthy.
func (b *browser) waitJS(cond string, timeout time.Duration) time.Duration {
	b.t.Helper()
	start := time.Now()
	for {
		if eval[bool](b, `!!(`+cond+`)`) {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			b.fatalf("timed out after %v waiting for %s", timeout, cond)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// waitText waits until the element matching css contains text.
func (b *browser) waitText(css, text string) {
	b.t.Helper()
	b.waitJS(fmt.Sprintf(`[...document.querySelectorAll(%q)].some(e => e.textContent.includes(%q))`, css, text), 15*time.Second)
}

// text returns the text of the first element matching css ("" if none).
func (b *browser) text(css string) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`(e => e ? (e.innerText ?? e.textContent) : '')(document.querySelector(%q))`, css))
}

// clickButton clicks, with the mouse, the visible button whose text is label.
func (b *browser) clickButton(label string) {
	b.t.Helper()
	b.waitJS(fmt.Sprintf(`[...document.querySelectorAll('button')].some(e => e.textContent.trim() === %q && !e.disabled && e.offsetParent)`, label), 10*time.Second)
	b.clickRetry(chromedp.Click(chromedp.Search(fmt.Sprintf(`//button[normalize-space(.)=%q and not(@disabled)]`, label)), chromedp.NodeVisible))
}

// clickRetry runs a click again when the page replaced the element between
// finding and clicking it (a live page redraws as the instance moves on).
func (b *browser) clickRetry(click chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	for try := 0; ; try++ {
		ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
		err := chromedp.Do(ctx, click)
		cancel()
		if err == nil {
			return
		}
		if try == 2 || !strings.Contains(err.Error(), "Could not find node") {
			b.fatalf("browser: %v", err)
		}
	}
}

// clickCSS clicks the first visible element matching css.
func (b *browser) clickCSS(css string) {
	b.t.Helper()
	b.clickRetry(chromedp.Click(chromedp.CSS(css), chromedp.NodeVisible))
}

// typeInto focuses the field and types text into it, key by key.
func (b *browser) typeInto(css, text string) {
	b.t.Helper()
	b.do(chromedp.WaitVisible(chromedp.CSS(css)))
	eval[bool](b, fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = ''; e.focus(); return true })()`, css))
	b.do(chromedp.SendKeys(chromedp.CSS(css), text))
}

// key sends a key to the focused element (kb constants or text).
func (b *browser) key(k string) {
	b.t.Helper()
	b.do(chromedp.KeyEvent(k))
}

// screenshot saves the viewport (or, with full, the whole page) as PNG
// under b.shots.
func (b *browser) screenshot(name string, full bool) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	shot := chromedp.CaptureScreenshot()
	if full {
		shot = chromedp.FullScreenshot(100)
	}
	png, err := chromedp.Run(ctx, shot)
	if err != nil {
		b.fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(b.shots, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return p
}

// fatalf fails with the page's URL and text, and the browser's errors.
func (b *browser) fatalf(format string, args ...any) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(b.ctx), 5*time.Second)
	defer cancel()
	page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText.slice(0, 3000)`))
	b.t.Fatalf(format+"\n--- page ---\n%s\n--- browser errors ---\n%s", append(args, page, b.failures.String())...)
}

// noErrors fails when the page logged an error or threw.
func (b *browser) noErrors() {
	b.t.Helper()
	if f := b.failures.String(); f != "" {
		b.t.Fatalf("the page logged errors:\n%s", f)
	}
}

// contrastJS lists the text of the page (outside the diagram's SVG, and
// but for disabled controls) whose colour contrasts with its background
// less than WCAG AA asks: 4.5:1, or 3:1 for large text.
const contrastJS = `(() => {
  const parse = (c) => {
    const m = /rgba?\(([^)]+)\)/.exec(c);
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const blend = (top, under) => ({r: top.r * top.a + under.r * (1 - top.a), g: top.g * top.a + under.g * (1 - top.a),
    b: top.b * top.a + under.b * (1 - top.a), a: 1});
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
    }
    let out = {r: 255, g: 255, b: 255, a: 1};
    for (const c of layers.reverse()) out = blend(c, out);
    return out;
  };
  const bad = [];
  const seen = new Set();
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const el = walk.currentNode.parentElement;
    if (!walk.currentNode.textContent.trim() || seen.has(el) || el.closest('svg, :disabled, .sr-only, noscript, option')) continue;
    seen.add(el);
    const st = getComputedStyle(el);
    if (st.visibility === 'hidden' || !el.getClientRects().length) continue;
    const bg = background(el);
    const fg = blend(parse(st.color), bg);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(st.fontSize);
    const large = size >= 24 || (Number(st.fontWeight) >= 700 && size >= 18.66);
    if (ratio < (large ? 3 : 4.5)) bad.push(el.tagName + '.' + el.className + ' "' + walk.currentNode.textContent.trim().slice(0, 40) + '": ' + ratio.toFixed(2));
  }
  return bad;
})()`

// contrast fails when text on the page has too little contrast.
func (b *browser) contrast() {
	b.t.Helper()
	if bad := eval[[]string](b, contrastJS); len(bad) > 0 {
		b.t.Fatalf("text below WCAG AA contrast:\n%s", strings.Join(bad, "\n"))
	}
}
