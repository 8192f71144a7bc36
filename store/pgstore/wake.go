package pgstore

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/perdure/perdure/store"
)

// Wake says which kinds of work a commit, on this node or another, made
// ready (store.Wake).
type Wake = store.Wake

// The kinds of work.
const (
	WakeWorkflow = store.WakeWorkflow
	WakeActivity = store.WakeActivity
)

// payload is the NOTIFY payload of k: "w", "a" or "wa".
func payload(k Wake) string {
	var b strings.Builder
	if k&WakeWorkflow != 0 {
		b.WriteByte('w')
	}
	if k&WakeActivity != 0 {
		b.WriteByte('a')
	}
	return b.String()
}

// parseWake reads a payload; one it does not know wakes everything.
func parseWake(p string) Wake {
	var k Wake
	for _, c := range p {
		switch c {
		case 'w':
			k |= WakeWorkflow
		case 'a':
			k |= WakeActivity
		default:
			return WakeWorkflow | WakeActivity
		}
	}
	if k == 0 {
		return WakeWorkflow | WakeActivity
	}
	return k
}

// Wakeups returns the channel of wake-ups: every commit that makes work
// ready, on any node sharing the database (schema), sends a notification,
// and the store delivers it here. The first call starts a listener on a
// connection of its own (outside the pool), which reconnects with backoff
// when the connection drops; each (re)connection delivers a wake-up of both
// kinds, since notifications sent while it was away are lost. Wake-ups are
// coalesced, never queued: when the reader is slow, the kinds of the
// pending ones are merged into one. The channel is meant for one reader,
// and is closed by Close.
func (s *Store) Wakeups() <-chan Wake {
	s.wakeMu.Lock()
	defer s.wakeMu.Unlock()
	if s.wake == nil {
		ctx, cancel := context.WithCancel(context.Background())
		s.wake = &listener{s: s, ch: make(chan Wake, 1), cancel: cancel, done: make(chan struct{})}
		if s.closed.Load() {
			close(s.wake.ch)
			close(s.wake.done)
		} else {
			go s.wake.run(ctx)
		}
	}
	return s.wake.ch
}

// listener feeds Wakeups from a LISTEN connection.
type listener struct {
	s      *Store
	ch     chan Wake
	cancel context.CancelFunc
	done   chan struct{}
}

const (
	listenMinBackoff = 50 * time.Millisecond
	listenMaxBackoff = 5 * time.Second
)

func (l *listener) run(ctx context.Context) {
	defer close(l.done)
	defer close(l.ch)
	backoff := listenMinBackoff
	for ctx.Err() == nil {
		conn, err := l.connect(ctx)
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, listenMaxBackoff)
			continue
		}
		backoff = listenMinBackoff
		l.deliver(WakeWorkflow | WakeActivity)
		for {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				break
			}
			l.deliver(parseWake(n.Payload))
		}
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = conn.Close(closeCtx)
		cancel()
	}
}

// connect opens the listening connection.
func (l *listener) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, l.s.cfg.ConnConfig.Copy())
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{l.s.channel}.Sanitize()); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return conn, nil
}

// deliver hands k to the reader without blocking: a wake-up the reader has
// not taken yet is merged into k.
func (l *listener) deliver(k Wake) {
	for {
		select {
		case l.ch <- k:
			return
		default:
		}
		select {
		case old := <-l.ch:
			k |= old
		default:
		}
	}
}

// stop ends the listener and waits for it.
func (l *listener) stop() {
	l.cancel()
	<-l.done
}
