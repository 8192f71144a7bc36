// Package httpclient is a Go client for Perdure's native HTTP API (the
// /api/v1 routes served by package server), used by the perdure CLI. Its
// results are the versioned JSON documents of package server/api
// (perdure.instance/v1, perdure.history/v1, …).
//
//	c, err := httpclient.New("http://127.0.0.1:3500")
//	res, err := c.Start(ctx, api.StartRequest{WorkflowName: "OrderWorkflow", Input: []byte(`{"item":"paperclips"}`)}, httpclient.StartOptions{})
//	inst, err := c.WaitForCompletion(ctx, res.Instance.InstanceID)
//
// Errors answered by the server are *Error values; errors.Is matches them
// against the perdure sentinels (perdure.ErrNotFound, perdure.ErrConflict,
// perdure.ErrNotRunning, perdure.ErrStillRunning, perdure.ErrTokenRejected,
// perdure.ErrBadToken).
package httpclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/server/api"
)

// Client calls one Perdure server. It is safe for concurrent use.
type Client struct {
	base   *url.URL
	hc     *http.Client
	header http.Header
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (transport, TLS, timeouts). Long
// polls last up to their wait, so a client timeout must be longer than the
// waits used. Default: a client without timeout; contexts bound the calls.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithHeader adds a header to every request (for example Authorization
// for a proxy in front of the server).
func WithHeader(key, value string) Option { return func(c *Client) { c.header.Add(key, value) } }

// New returns a client for the server at baseURL (for example
// "http://127.0.0.1:3500").
func New(baseURL string, opts ...Option) (*Client, error) {
	if !strings.Contains(baseURL, "://") {
		baseURL = "http://" + baseURL
	}
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("perdure address %q is not an http(s) URL: use for example http://127.0.0.1:3500", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	c := &Client{base: u, hc: &http.Client{}, header: http.Header{}}
	c.header.Set("User-Agent", "perdure-httpclient")
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// BaseURL returns the server address the client calls.
func (c *Client) BaseURL() string { return c.base.String() }

// Error is an error answered by the server.
type Error struct {
	StatusCode int
	// Code is the API error code (api.CodeNotFound, …); "" when the
	// server did not answer with an API error body.
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Is matches the perdure sentinel errors.
func (e *Error) Is(target error) bool {
	switch e.Code {
	case api.CodeNotFound:
		return target == perdure.ErrNotFound
	case api.CodeConflict:
		return target == perdure.ErrConflict
	case api.CodeNotRunning:
		return target == perdure.ErrNotRunning
	case api.CodeStillRunning:
		return target == perdure.ErrStillRunning
	case api.CodeTokenRejected:
		return target == perdure.ErrTokenRejected
	case api.CodeBadToken:
		return target == perdure.ErrBadToken
	}
	return false
}

// request is one API call.
type request struct {
	method string
	path   string
	query  url.Values
	body   any // []byte and json.RawMessage are sent as is; nil sends none
	header http.Header
	out    any // decoded from a successful response's body, when non-nil
}

// do sends req and returns the response (its body read and closed).
func (c *Client) do(ctx context.Context, req request) (*http.Response, error) {
	target := c.base.String() + req.path // req.path is escaped
	if q := req.query.Encode(); q != "" {
		target += "?" + q
	}
	var body io.Reader
	switch b := req.body.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	case json.RawMessage:
		body = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(j)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, target, body)
	if err != nil {
		return nil, err
	}
	for k, vs := range c.header {
		hr.Header[k] = vs
	}
	for k, vs := range req.header {
		hr.Header[k] = vs
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	hr.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("cannot reach the Perdure server at %s: %w", c.base, unwrapURLError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read the response of %s %s: %w", req.method, req.path, err)
	}
	if resp.StatusCode >= 400 {
		return resp, decodeError(resp, data)
	}
	if req.out != nil {
		if err := json.Unmarshal(data, req.out); err != nil {
			return resp, fmt.Errorf("decode the response of %s %s: %w", req.method, req.path, err)
		}
	}
	return resp, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func decodeError(resp *http.Response, data []byte) error {
	var eb api.ErrorBody
	if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
		return &Error{StatusCode: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}
	}
	snippet := strings.TrimSpace(string(data))
	if len(snippet) > 200 {
		snippet = snippet[:200] + "…"
	}
	msg := fmt.Sprintf("the server answered %s", resp.Status)
	if snippet != "" {
		msg += ": " + snippet
	}
	return &Error{StatusCode: resp.StatusCode, Message: msg + " (is the address a Perdure server?)"}
}

func instancePath(id string, rest ...string) string {
	p := "/api/v1/instances/" + url.PathEscape(id)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}
