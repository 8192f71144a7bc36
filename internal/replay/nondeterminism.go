package replay

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/perdure/perdure/internal/history"
)

// NondeterminismError reports workflow code that, on replay, asked for a
// different step than the history recorded. It fails the workflow task, not
// the workflow: once the code is fixed (or versioned with GetVersion), the
// task is retried and the run resumes.
type NondeterminismError struct {
	Step       int64
	Recorded   string
	RecordedAt string
	Got        string
	GotAt      string
}

func (e *NondeterminismError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "non-deterministic workflow code at step %d:\n", e.Step)
	fmt.Fprintf(&b, "  history recorded: %s%s\n", e.Recorded, at(e.RecordedAt))
	fmt.Fprintf(&b, "  code asked for:   %s%s\n", e.Got, at(e.GotAt))
	b.WriteString("Workflow code must make the same calls in the same order on every replay. " +
		"Restore the previous behaviour, or guard the change with workflow.GetVersion, and redeploy: the run resumes by itself.")
	return b.String()
}

func at(src string) string {
	if src == "" {
		return ""
	}
	return " (at " + src + ")"
}

func describe(ev *history.Event) string {
	switch ev.Type {
	case history.TaskScheduled:
		return fmt.Sprintf("activity %q", ev.Name)
	case history.TimerCreated:
		if strings.HasPrefix(ev.Purpose, "event:") {
			return fmt.Sprintf("timeout of event wait %q", strings.TrimPrefix(ev.Purpose, "event:"))
		}
		if !ev.Time.IsZero() && !ev.FireAt.IsZero() {
			return fmt.Sprintf("timer of %s", ev.FireAt.Sub(ev.Time).Round(time.Millisecond))
		}
		return "timer"
	case history.SubOrchestrationInstanceCreated:
		return fmt.Sprintf("child workflow %q", ev.Name)
	case history.SideEffect:
		return fmt.Sprintf("side effect %q", ev.Name)
	case history.EventSent:
		return fmt.Sprintf("send event %q to %q", ev.Name, ev.InstanceID)
	}
	return ev.Type
}

const modulePrefix = "github.com/perdure/perdure/"

// callerSource returns file:line of the first caller outside Perdure's own
// workflow runtime packages.
func callerSource() string {
	var pcs [shallowFrames]uintptr
	n := runtime.Callers(3, pcs[:])
	if src, ok := sources.Load(pcs); !ok {
		src, ok := resolveSource(pcs[:n])
		switch {
		case ok:
		case n < shallowFrames:
			src = "" // the whole stack is Perdure's own
		default:
			src = lookDeeper
		}
		cacheSource(&sources, pcs, src)
		if src != lookDeeper {
			return src
		}
	} else if src != lookDeeper {
		return src.(string)
	}
	// Workflow code called through more of Perdure's own frames than the
	// shallow look covers (its helpers that call back into workflow code).
	var deep [deepFrames]uintptr
	n = runtime.Callers(3, deep[:])
	if src, ok := deepSources.Load(deep); ok {
		return src.(string)
	}
	src, _ := resolveSource(deep[:n])
	cacheSource(&deepSources, deep, src)
	return src
}

// Resolving program counters to file:line is most of callerSource's cost,
// and workflow code issues its commands from a few places: the answer is
// cached by the call stack's innermost program counters. When those are
// all Perdure's own, the cache says to look deeper, and the answer for
// the deeper stack is cached by its own program counters.
const (
	shallowFrames    = 8
	deepFrames       = 24
	maxCachedSources = 1 << 14
	lookDeeper       = "\x00deeper"
)

var (
	sources       sync.Map // [shallowFrames]uintptr → string
	deepSources   sync.Map // [deepFrames]uintptr → string
	sourcesCached atomic.Int64
	resolved      atomic.Int64 // resolveSource calls, for tests
)

func cacheSource[K comparable](m *sync.Map, k K, src string) {
	if sourcesCached.Add(1) <= maxCachedSources {
		m.Store(k, src)
	}
}

// resolveSource returns the file:line of the first frame of pcs outside the
// runtime packages; ok is false when every frame is inside them.
func resolveSource(pcs []uintptr) (string, bool) {
	resolved.Add(1)
	frames := runtime.CallersFrames(pcs)
	for {
		fr, more := frames.Next()
		if fr.Function != "" && !internalFrame(fr.Function) {
			return shortPath(fr.File) + ":" + strconv.Itoa(fr.Line), true
		}
		if !more {
			return "", false
		}
	}
}

func internalFrame(fn string) bool {
	if !strings.HasPrefix(fn, modulePrefix) {
		return false
	}
	rest := fn[len(modulePrefix):]
	// The workflows of perdure bench are workflow code, like a user's.
	if strings.HasPrefix(rest, "internal/bench.") {
		return false
	}
	for _, p := range []string{"workflow.", "internal/", "worker.", "perduretest."} {
		if strings.HasPrefix(rest, p) {
			return true
		}
	}
	return false
}

func shortPath(file string) string {
	dir, base := filepath.Split(file)
	return filepath.Join(filepath.Base(dir), base)
}
