package perduretest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// HistoryFileSuffix ends the names of the files ReplayDir replays.
const HistoryFileSuffix = ".history.json"

// ReplayDir replays every *.history.json file of dir (not its
// subdirectories) against r, each in a subtest named after the file
// without the suffix, in name order. A file that fails to load or replay
// fails its subtest with the file's name and the error, for a change that
// breaks determinism the diff between the history and the code. A missing
// or empty dir fails the test: a replay test that replays nothing would
// pass for the wrong reason.
func ReplayDir(t *testing.T, r *Replayer, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("replay the histories of %s: %v", dir, err)
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), HistoryFileSuffix) {
			files = append(files, e.Name())
		}
	}
	if len(files) == 0 {
		t.Fatalf("%s holds no *%s file: export histories with `perdure workflow history ID --output json > %s` "+
			"or record them with perduretest.WriteHistoryFile", dir, HistoryFileSuffix, filepath.Join(dir, "NAME"+HistoryFileSuffix))
	}
	slices.Sort(files)
	for _, name := range files {
		path := filepath.Join(dir, name)
		t.Run(strings.TrimSuffix(name, HistoryFileSuffix), func(t *testing.T) {
			t.Helper()
			if err := r.ReplayFile(path); err != nil {
				t.Error(err)
			}
		})
	}
}
