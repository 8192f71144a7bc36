// Package names derives registration names from Go functions and remembers
// the names functions were registered under, so that a workflow calling an
// activity by function reaches the name the worker registered.
package names

import (
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
)

var (
	mu         sync.Mutex
	registered = map[uintptr][]string{} // code pointer -> the distinct names it was registered under
)

// Remember records that fn was registered as name. Method values of one
// method (and closures of one function literal) share a code pointer; if
// they are registered under different names, calls by function become
// ambiguous and Of says so.
func Remember(fn any, name string) {
	p := reflect.ValueOf(fn).Pointer()
	mu.Lock()
	defer mu.Unlock()
	for _, n := range registered[p] {
		if n == name {
			return
		}
	}
	registered[p] = append(registered[p], name)
}

// Of returns the name for fn: the name it was registered under, else its
// bare function name (TaskChainWorkflow for example.TaskChainWorkflow).
func Of(fn any) (string, error) {
	v := reflect.ValueOf(fn)
	if v.Kind() != reflect.Func || v.IsNil() {
		return "", fmt.Errorf("expected a function, got %T", fn)
	}
	mu.Lock()
	ns := registered[v.Pointer()]
	mu.Unlock()
	switch len(ns) {
	case 0:
		return Bare(fn)
	case 1:
		return ns[0], nil
	}
	if bare, err := Bare(fn); err == nil {
		for _, n := range ns {
			if n == bare {
				return bare, nil // registered under its own name, and aliases
			}
		}
	}
	return "", fmt.Errorf("%s was registered under several names (%s): these are method values or closures of one function, "+
		"which Go cannot tell apart; call it by name (ExecuteActivityByName, ExecuteChildWorkflowByName)",
		runtime.FuncForPC(v.Pointer()).Name(), strings.Join(ns, ", "))
}

// Bare returns fn's bare name, or an error for anonymous functions.
func Bare(fn any) (string, error) {
	v := reflect.ValueOf(fn)
	if v.Kind() != reflect.Func || v.IsNil() {
		return "", fmt.Errorf("expected a function, got %T", fn)
	}
	full := runtime.FuncForPC(v.Pointer()).Name()
	full = strings.TrimSuffix(full, "-fm") // method values
	name := full
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:]
	}
	if name == "" || strings.HasPrefix(name, "func") && isDigits(name[4:]) || strings.Contains(full, ".func") {
		return "", fmt.Errorf("%s is an anonymous function: register it with an explicit name", full)
	}
	return name, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
