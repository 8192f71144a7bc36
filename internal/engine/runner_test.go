package engine

import (
	"runtime"
	"strings"
	"testing"
)

// Workflow tasks and activity attempts run on the pooled goroutines of
// tasks (internal/gopool tests the pool itself).
func TestTasksRunOnPooledGoroutines(t *testing.T) {
	sl := newSlots(memEngine(t), 1)
	sl.acquire()
	stack := make(chan string, 1)
	sl.run(func() bool {
		buf := make([]byte, 4096)
		stack <- string(buf[:runtime.Stack(buf, false)])
		return false
	})
	if s := <-stack; !strings.Contains(s, "internal/gopool.(*Pool).run") {
		t.Fatalf("the task ran on a goroutine outside the pool:\n%s", s)
	}
	sl.wg.Wait()
	if sl.free() != 1 {
		t.Fatal("the task's slot was not given back")
	}
}
