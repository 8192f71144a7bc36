package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/perdure/perdure/httpclient"
	"github.com/perdure/perdure/internal/failure"
	"github.com/perdure/perdure/server/api"
)

// httpCompleter completes asynchronous activities through the server's own
// public HTTP API, the way an outside system would (the data-routing
// example's transmit service uses it).
type httpCompleter struct {
	base string
	c    *httpclient.Client
}

func newHTTPCompleter(base string) *httpCompleter { return &httpCompleter{base: base} }

func (h *httpCompleter) client() (*httpclient.Client, error) {
	if h.c == nil {
		c, err := httpclient.New(h.base)
		if err != nil {
			return nil, err
		}
		h.c = c
	}
	return h.c, nil
}

// CompleteActivity posts the result to /api/v1; a late token gives an error
// matching perdure.ErrTokenRejected.
func (h *httpCompleter) CompleteActivity(ctx context.Context, token string, result any) error {
	c, err := h.client()
	if err != nil {
		return err
	}
	b, err := json.Marshal(result)
	if err != nil {
		return fmt.Errorf("encode activity result: %w", err)
	}
	return c.CompleteActivity(ctx, token, b)
}

// FailActivity reports a failed attempt through /api/v1.
func (h *httpCompleter) FailActivity(ctx context.Context, token string, cause error) error {
	c, err := h.client()
	if err != nil {
		return err
	}
	if cause == nil {
		cause = errors.New("failed")
	}
	f := failure.FromError(cause)
	return c.FailActivity(ctx, token, api.ActivityError{Message: f.Message, Type: f.Type, NonRetryable: f.NonRetryable})
}
