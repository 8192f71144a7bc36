// Package hook connects public packages without exporting internals: the
// root package registers how to reach a Client's engine, and the worker
// package uses it.
package hook

import "github.com/perdure/perdure/internal/engine"

// ClientEngine returns the engine behind a *perdure.Client and its codec.
var ClientEngine func(client any) (*engine.Engine, bool)
