package replay

import (
	"strings"
	"testing"
)

// nest calls callerSource under depth more frames of this package, which
// count as Perdure's own.
func nest(depth int) string {
	if depth == 0 {
		return callerSource()
	}
	return nest(depth - 1)
}

// A call whose innermost frames are all Perdure's own is answered from
// deeper in the stack, and only the first such call resolves program
// counters: the later ones are answered from the caches. A shallow call
// is answered and cached as before.
func TestCallerSourceCached(t *testing.T) {
	for _, depth := range []int{1, shallowFrames + 2} {
		var first string
		var before int64
		for i := range 4 { // one call site: the same program counters
			got := nest(depth)
			if i == 0 {
				first, before = got, resolved.Load()
				if !strings.HasPrefix(first, "testing/testing.go:") {
					t.Fatalf("depth %d: source %q, want the test runner's frame", depth, first)
				}
			} else if got != first {
				t.Fatalf("depth %d: source %q, then %q", depth, first, got)
			}
		}
		if n := resolved.Load() - before; n != 0 {
			t.Fatalf("depth %d: %d more resolutions after the first call", depth, n)
		}
	}
}

func TestInternalFrame(t *testing.T) {
	for fn, want := range map[string]bool{
		"github.com/perdure/perdure/internal/replay.(*Runner).command":    true,
		"github.com/perdure/perdure/workflow.ExecuteActivity[...]":        true,
		"github.com/perdure/perdure/worker.RegisterWorkflowAs[...].func1": true,
		"github.com/perdure/perdure/perduretest.(*Env).ExecuteWorkflow":   true,
		"github.com/perdure/perdure/internal/bench.Chain3Workflow":        false, // a workflow, like a user's
		"github.com/perdure/perdure/examples/taskchain.TaskChainWorkflow": false,
		"main.OrderWorkflow":             false,
		"example.com/app/flows.Checkout": false,
	} {
		if got := internalFrame(fn); got != want {
			t.Errorf("internalFrame(%q) = %v, want %v", fn, got, want)
		}
	}
}
