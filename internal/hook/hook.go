// Package hook connects public packages without exporting internals: the
// root package registers how to reach a Client's engine, and the worker
// package uses it.
package hook

import (
	"log/slog"

	"github.com/perdure/perdure/internal/clock"
	"github.com/perdure/perdure/internal/engine"
	"github.com/perdure/perdure/store"
)

// ClientEngine returns the engine behind a *perdure.Client and its codec.
var ClientEngine func(client any) (*engine.Engine, bool)

// ClientOptions configure NewClient.
type ClientOptions struct {
	Store  store.Store
	Clock  clock.Clock
	Logger *slog.Logger
	Tune   func(*engine.Config)
}

// NewClient creates a *perdure.Client (returned as any) with engine
// settings that perdure.Options does not expose.
var NewClient func(opts ClientOptions) (any, error)
