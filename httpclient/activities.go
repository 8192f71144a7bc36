package httpclient

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/perdure/perdure/server/api"
)

// CompleteActivity completes the activity attempt named by the task token
// with result (a JSON value; nil for none).
func (c *Client) CompleteActivity(ctx context.Context, taskToken string, result json.RawMessage) error {
	_, err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/activities/complete",
		body: api.CompleteActivityRequest{TaskToken: taskToken, Result: result}})
	return err
}

// FailActivity fails the activity attempt named by the task token; its
// retry policy decides whether it runs again.
func (c *Client) FailActivity(ctx context.Context, taskToken string, e api.ActivityError) error {
	_, err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/activities/fail",
		body: api.FailActivityRequest{TaskToken: taskToken, Error: e}})
	return err
}

// HeartbeatActivity records progress of the activity attempt named by the
// task token; details (a JSON value) are kept for the next attempt, nil
// keeps the previous ones.
func (c *Client) HeartbeatActivity(ctx context.Context, taskToken string, details json.RawMessage) error {
	_, err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/activities/heartbeat",
		body: api.HeartbeatActivityRequest{TaskToken: taskToken, Details: details}})
	return err
}
