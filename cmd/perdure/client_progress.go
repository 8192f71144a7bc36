package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/perdure/perdure/httpclient"
	"github.com/perdure/perdure/server/api"
)

// terminalWidth returns the width of w when it is a terminal.
func terminalWidth(w io.Writer) (int, bool) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0, false
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil || width <= 0 {
		width = 100
	}
	return width, true
}

// follow shows the progress of an instance until it finishes and returns
// its final status. On a terminal the view is redrawn in place (with
// countdowns); otherwise a line is printed whenever the state changes.
// quiet shows nothing (JSON output). When ctx ends first, follow returns
// the last status seen and ctx's error.
func follow(ctx context.Context, c *httpclient.Client, id string, out io.Writer, quiet bool) (*api.Instance, error) {
	if quiet {
		inst, err := c.WaitForCompletion(ctx, id)
		if err != nil && ctx.Err() != nil {
			cur, gerr := c.Get(context.WithoutCancel(ctx), id)
			if gerr == nil {
				return cur, ctx.Err()
			}
		}
		return inst, err
	}
	width, live := terminalWidth(out)
	view := &progressView{w: out, live: live, width: width}
	updates := make(chan *api.Progress)
	errc := make(chan error, 1)
	go func() {
		errc <- c.Follow(ctx, id, func(p *api.Progress) error {
			select {
			case updates <- p:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	var tick <-chan time.Time
	if live {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		tick = t.C
	}
	var last *api.Progress
	for {
		select {
		case p := <-updates:
			last = p
			view.show(p, time.Now())
		case <-tick:
			if last != nil {
				view.show(last, time.Now())
			}
		case err := <-errc:
			view.done()
			if last == nil {
				if err == nil {
					err = errors.New("no progress received")
				}
				return nil, err
			}
			return last.Instance, err
		}
	}
}

// progressView draws progress documents.
type progressView struct {
	w     io.Writer
	live  bool
	width int
	drawn int    // lines drawn by the last live frame
	last  string // the last plain line
}

func (v *progressView) show(p *api.Progress, now time.Time) {
	in := p.Instance
	if !v.live {
		parts := []string{stateLine(p)}
		parts = append(parts, pendingLines(p, now, false)...)
		if !api.IsNull(in.CustomStatus) && !in.Finished() {
			parts = append(parts, "custom status "+fmtPayload(in.CustomStatus, 80))
		}
		line := strings.Join(parts, "; ")
		if line != v.last {
			fmt.Fprintf(v.w, "%s %s %s\n", now.Local().Format("15:04:05"), in.InstanceID, line)
			v.last = line
		}
		return
	}
	elapsed := now.Sub(in.CreatedAt)
	if in.CompletedAt != nil {
		elapsed = in.CompletedAt.Sub(in.CreatedAt)
	}
	lines := []string{fmt.Sprintf("%s  %s  %s  (%s)", in.InstanceID, in.WorkflowName, stateLine(p), fmtDuration(elapsed))}
	if !in.Finished() {
		for _, l := range pendingLines(p, now, true) {
			lines = append(lines, "  "+l)
		}
		if !api.IsNull(in.CustomStatus) {
			lines = append(lines, "  custom status: "+fmtPayload(in.CustomStatus, 200))
		}
	}
	v.clear()
	for _, l := range lines {
		if len([]rune(l)) >= v.width {
			l = string([]rune(l)[:v.width-2]) + "…"
		}
		fmt.Fprintln(v.w, l)
	}
	v.drawn = len(lines)
}

// clear erases the last live frame.
func (v *progressView) clear() {
	if v.live && v.drawn > 0 {
		fmt.Fprintf(v.w, "\x1b[%dA\x1b[J", v.drawn)
		v.drawn = 0
	}
}

// done leaves the screen ready for the final status.
func (v *progressView) done() {
	v.clear()
}
