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

var registered sync.Map // func pointer (uintptr) -> name

// Remember records that fn was registered as name.
func Remember(fn any, name string) {
	registered.Store(reflect.ValueOf(fn).Pointer(), name)
}

// Of returns the name for fn: the name it was registered under, else its
// bare function name (TaskChainWorkflow for example.TaskChainWorkflow).
func Of(fn any) (string, error) {
	v := reflect.ValueOf(fn)
	if v.Kind() != reflect.Func || v.IsNil() {
		return "", fmt.Errorf("expected a function, got %T", fn)
	}
	if n, ok := registered.Load(v.Pointer()); ok {
		return n.(string), nil
	}
	return Bare(fn)
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
