package server

import (
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/server/api"
)

// toInstance converts a run's status to the perdure.instance/v1 document.
func toInstance(in *perdure.Instance) *api.Instance {
	out := &api.Instance{
		Schema:           api.SchemaInstance,
		InstanceID:       in.InstanceID,
		RunID:            in.RunID,
		WorkflowName:     in.Name,
		Status:           in.Status,
		Current:          in.Current,
		Input:            payloadJSON(in.Input),
		Output:           payloadJSON(in.Output),
		CustomStatus:     payloadJSON(in.CustomStatus),
		Failure:          in.Failure,
		CreatedAt:        in.CreatedAt,
		UpdatedAt:        in.UpdatedAt,
		CompletedAt:      timePtr(in.CompletedAt),
		ParentInstanceID: in.ParentInstanceID,
		PreviousRunID:    in.PreviousRunID,
		TaskError:        in.TaskError,
		Waiting:          toWaits(in.Waiting),
	}
	return out
}

// payloadJSON shows an encoded payload as a JSON value: itself when it is
// JSON, else {"$base64": "…"}; nil when empty.
func payloadJSON(b []byte) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	if json.Valid(b) {
		return json.RawMessage(b)
	}
	out, _ := json.Marshal(map[string]string{"$base64": base64.StdEncoding.EncodeToString(b)})
	return out
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func toWaits(ws []perdure.Wait) []api.Wait {
	out := make([]api.Wait, 0, len(ws))
	for _, w := range ws {
		a := api.Wait{Kind: w.Kind, Step: w.Step, Name: w.Name, InstanceID: w.InstanceID, Purpose: w.Purpose, Count: w.Count}
		if !w.FireAt.IsZero() {
			t := w.FireAt
			a.FireAt = &t
		}
		out = append(out, a)
	}
	return out
}
