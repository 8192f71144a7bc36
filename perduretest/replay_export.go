package perduretest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/server/api"
)

// ExportHistory returns the whole history of a run of instanceID (runID ""
// for the current run) as the perdure.history/v1 document that the server
// serves at GET /api/v1/instances/{id}/history. Use it in a test that runs
// a workflow to record a history to replay later (WriteHistoryFile).
func ExportHistory(ctx context.Context, c *perdure.Client, instanceID, runID string) (*api.History, error) {
	inst, err := c.GetRun(ctx, instanceID, runID)
	if err != nil {
		return nil, fmt.Errorf("export history: %w", err)
	}
	events, err := c.History(ctx, inst.InstanceID, inst.RunID)
	if err != nil {
		return nil, fmt.Errorf("export history: %w", err)
	}
	if events == nil {
		events = []*perdure.HistoryEvent{}
	}
	return &api.History{Schema: api.SchemaHistory, InstanceID: inst.InstanceID, RunID: inst.RunID,
		WorkflowName: inst.Name, Status: inst.Status, Events: events}, nil
}

// ExportRuns returns the whole history of every run of instanceID, oldest
// first: the runs chained by continue-as-new, and earlier runs an instance
// id kept when it was started again. Each is replayed on its own.
func ExportRuns(ctx context.Context, c *perdure.Client, instanceID string) ([]*api.History, error) {
	var runs []*perdure.Instance
	f := perdure.ListFilter{InstanceID: instanceID, AllRuns: true}
	for {
		page, err := c.ListInstances(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("export the runs of %s: %w", instanceID, err)
		}
		runs = append(runs, page.Instances...)
		if page.NextPageToken == "" {
			break
		}
		f.PageToken = page.NextPageToken
	}
	if len(runs) == 0 {
		return nil, fmt.Errorf("export the runs of %s: %w", instanceID, perdure.ErrNotFound)
	}
	slices.Reverse(runs) // listed newest first
	out := make([]*api.History, 0, len(runs))
	for _, run := range runs {
		h, err := ExportHistory(ctx, c, run.InstanceID, run.RunID)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// RecordHistories writes the history of every run of instanceID to dir,
// for ReplayDir: dir/name.history.json for an instance of one run, else
// dir/name-run1.history.json, dir/name-run2.history.json… oldest first. The
// files it wrote for name before are removed first. It fails the test if
// it cannot.
func RecordHistories(t testing.TB, c *perdure.Client, instanceID, dir, name string) {
	t.Helper()
	hs, err := ExportRuns(context.Background(), c, instanceID)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if n := e.Name(); n == name+HistoryFileSuffix || isRunFile(n, name) {
			if err := os.Remove(filepath.Join(dir, n)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, h := range hs {
		file := name
		if len(hs) > 1 {
			file = fmt.Sprintf("%s-run%d", name, i+1)
		}
		if err := WriteHistoryFile(filepath.Join(dir, file+HistoryFileSuffix), h); err != nil {
			t.Fatal(err)
		}
	}
}

// isRunFile reports whether file is name-runN.history.json.
func isRunFile(file, name string) bool {
	n, ok := strings.CutPrefix(file, name+"-run")
	if !ok {
		return false
	}
	n, ok = strings.CutSuffix(n, HistoryFileSuffix)
	if !ok || n == "" {
		return false
	}
	_, err := strconv.Atoi(n)
	return err == nil
}

// MarshalHistory encodes h the way `perdure workflow history ID --output
// json` prints it: the API's JSON, indented by two spaces, with a final
// newline.
func MarshalHistory(h *api.History) ([]byte, error) {
	b, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("encode history: %w", err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return nil, fmt.Errorf("encode history: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// WriteHistoryFile writes h to path as MarshalHistory encodes it, creating
// the directory if needed. Name the file NAME.history.json for ReplayDir.
func WriteHistoryFile(path string, h *api.History) error {
	b, err := MarshalHistory(h)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	return nil
}
