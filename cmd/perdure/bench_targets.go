package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/perdure/perdure/internal/bench"
)

// benchTargets runs bench.Chain3Runs and bench.TargetRuns with their defaults,
// each run a child process of this binary on a fresh store, and compares
// the figures with the targets: repeat runs of each (medians),
// sleepers once, and chain3 embedded and over HTTP in turn, so that each
// HTTP run is compared with an embedded one made just before it.
func benchTargets(cmd *cobra.Command, repeat int, jsonOnly bool) error {
	var other []string
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Name != "repeat" && f.Name != "output" {
			other = append(other, "--"+f.Name)
		}
	})
	if len(other) > 0 {
		return fmt.Errorf("perdure bench targets runs every scenario with its defaults, on a fresh SQLite file each time: it takes --repeat and --output only, not %s", strings.Join(other, ", "))
	}
	progress := cmd.ErrOrStderr()
	step, steps := 0, 2*repeat+len(bench.TargetRuns)
	child := func(run bench.TargetRun, n int) ([]byte, error) {
		args := append(append([]string{"bench", run.Scenario}, run.Args...), "--repeat", strconv.Itoa(n), "--output", "json")
		step++
		fmt.Fprintf(progress, "targets: %d of %d: perdure %s\n", step, steps, strings.Join(args, " "))
		line, err := benchChild(cmd, args)
		if err != nil {
			return nil, fmt.Errorf("bench targets: %s: %w", run.Name, err)
		}
		return line, nil
	}
	decode := func(name string, line []byte) (map[string]any, error) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			return nil, fmt.Errorf("bench targets: %s printed no JSON line: %w", name, err)
		}
		return m, nil
	}
	// combined returns the medians of runs as the JSON object perdure
	// bench --repeat prints.
	combined := func(name string, runs [][]byte) (map[string]any, error) {
		c, err := bench.Combine(runs)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(c)
		if err != nil {
			return nil, err
		}
		return decode(name, b)
	}
	figures := map[string]map[string]any{}
	// Embedded chain3, then chain3 over HTTP, repeat times.
	var lines [2][][]byte
	var wps [2][]float64
	for range repeat {
		for k, run := range bench.Chain3Runs {
			line, err := child(run, 1)
			if err != nil {
				return err
			}
			m, err := decode(run.Name, line)
			if err != nil {
				return err
			}
			v, _ := m["workflows_per_second"].(float64)
			lines[k], wps[k] = append(lines[k], line), append(wps[k], v)
		}
	}
	for k, run := range bench.Chain3Runs {
		var err error
		if figures[run.Name], err = combined(run.Name, lines[k]); err != nil {
			return err
		}
	}
	shares, med := bench.PairShares(wps[0], wps[1])
	figures[bench.Chain3HTTP][bench.ShareOfEmbedded] = med
	for _, run := range bench.TargetRuns {
		n := repeat
		if run.Once {
			n = 1
		}
		line, err := child(run, n)
		if err != nil {
			return err
		}
		if figures[run.Name], err = decode(run.Name, line); err != nil {
			return err
		}
	}
	r, err := bench.CheckTargets(figures, repeat)
	if err != nil {
		return err
	}
	r.HTTPShareRuns = shares
	return bench.Write(cmd.OutOrStdout(), r, jsonOnly)
}
