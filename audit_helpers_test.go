package perdure_test

import (
	"context"
	"sync"
)

var auditGates sync.Map // key -> chan struct{}

func auditGate(key string) chan struct{} {
	ch, _ := auditGates.LoadOrStore(key, make(chan struct{}))
	return ch.(chan struct{})
}

// auditWaitGate blocks until the test opens the gate named key.
func auditWaitGate(ctx context.Context, key string) (string, error) {
	select {
	case <-auditGate(key):
		return key, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}
