package perduretest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/perdure/perdure/server/api"
)

// LoadHistory reads and checks the history in the file at path; see
// ParseHistory.
func LoadHistory(path string) (*api.History, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load history: %w", err)
	}
	h, err := ParseHistory(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return h, nil
}

// ParseHistory decodes and checks a history given as JSON: either the
// perdure.history/v1 document that `perdure workflow history ID --output
// json` prints and GET /api/v1/instances/{id}/history serves, or a bare
// JSON array of its events. It must be the whole history of one run:
// events numbered from 1, starting with ExecutionStarted. For a bare array
// the returned document's instance id, run id and workflow name come from
// the ExecutionStarted event. Errors about the document wrap
// ErrInvalidHistory.
func ParseHistory(data []byte) (*api.History, error) {
	data = bytes.TrimSpace(data)
	var h api.History
	switch {
	case len(data) == 0:
		return nil, fmt.Errorf("%w: the document is empty", ErrInvalidHistory)
	case data[0] == '[':
		if err := decode(data, &h.Events); err != nil {
			return nil, err
		}
		h.Schema = api.SchemaHistory
	case data[0] == '{':
		var probe struct {
			Schema *string `json:"schema"`
		}
		if err := decode(data, &probe); err != nil {
			return nil, err
		}
		if probe.Schema == nil {
			return nil, fmt.Errorf("%w: the JSON object has no \"schema\": want a %s document, as printed by "+
				"`perdure workflow history ID --output json`, or a JSON array of events", ErrInvalidHistory, api.SchemaHistory)
		}
		if *probe.Schema != api.SchemaHistory {
			return nil, fmt.Errorf("%w: the document's schema is %q, not %q: export the history with "+
				"`perdure workflow history ID --output json` (or GET /api/v1/instances/{id}/history)", ErrInvalidHistory, *probe.Schema, api.SchemaHistory)
		}
		if err := decode(data, &h); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: not JSON: want a %s document or a JSON array of events", ErrInvalidHistory, api.SchemaHistory)
	}
	info, err := checkHistory(&h)
	if err != nil {
		return nil, err
	}
	h.InstanceID, h.RunID, h.WorkflowName = info.InstanceID, info.RunID, info.Name
	return &h, nil
}

func decode(data []byte, v any) error {
	err := json.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("%w: not valid JSON at byte %d: %v", ErrInvalidHistory, se.Offset, err)
	}
	return fmt.Errorf("%w: %v", ErrInvalidHistory, err)
}
