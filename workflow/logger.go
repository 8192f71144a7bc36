package workflow

import (
	"context"
	"log/slog"

	"github.com/perdure/perdure/internal/replay"
)

// GetLogger returns a logger for workflow code that writes each line once:
// lines logged while the code replays history are dropped.
func GetLogger(ctx Context) *slog.Logger {
	r := runner(ctx)
	info := r.Info()
	base := r.Logger()
	return slog.New(&replayHandler{r: r, h: base.Handler()}).With(
		slog.String("workflow", info.Name), slog.String("instance_id", info.InstanceID))
}

type replayHandler struct {
	r *replay.Runner
	h slog.Handler
}

func (h *replayHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return !h.r.IsReplaying() && h.h.Enabled(ctx, l)
}

func (h *replayHandler) Handle(ctx context.Context, rec slog.Record) error {
	if h.r.IsReplaying() {
		return nil
	}
	return h.h.Handle(ctx, rec)
}

func (h *replayHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &replayHandler{r: h.r, h: h.h.WithAttrs(as)}
}

func (h *replayHandler) WithGroup(name string) slog.Handler {
	return &replayHandler{r: h.r, h: h.h.WithGroup(name)}
}
