package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/perdure/perdure/internal/bench"
)

// benchTargets runs every scenario of bench.TargetRuns with its defaults,
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
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench targets: find this program to run it again: %w", err)
	}
	progress := cmd.ErrOrStderr()
	step := 0
	steps := 2*repeat + len(bench.TargetRuns) - 2
	child := func(run bench.TargetRun, n int) ([]byte, error) {
		args := append(append([]string{"bench", run.Scenario}, run.Args...), "--repeat", strconv.Itoa(n), "--output", "json")
		step++
		fmt.Fprintf(progress, "targets: %d of %d: perdure %s\n", step, steps, strings.Join(args, " "))
		var out bytes.Buffer
		c := exec.CommandContext(cmd.Context(), exe, args...)
		c.Stdout, c.Stderr = &out, progress
		if err := c.Run(); err != nil {
			return nil, fmt.Errorf("bench targets: %s (%s %s): %w", run.Name, exe, strings.Join(args, " "), err)
		}
		line := bytes.TrimSpace(out.Bytes())
		if k := bytes.LastIndexByte(line, '\n'); k >= 0 {
			line = line[k+1:]
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
	byName := map[string]bench.TargetRun{}
	for _, run := range bench.TargetRuns {
		byName[run.Name] = run
	}
	// chain3, then chain3 over HTTP, repeat times.
	var embeddedRuns, httpRuns [][]byte
	var embedded, http []float64
	for range repeat {
		for _, name := range []string{bench.Chain3, bench.Chain3HTTP} {
			line, err := child(byName[name], 1)
			if err != nil {
				return err
			}
			m, err := decode(name, line)
			if err != nil {
				return err
			}
			wps, _ := m["workflows_per_second"].(float64)
			if name == bench.Chain3 {
				embeddedRuns, embedded = append(embeddedRuns, line), append(embedded, wps)
			} else {
				httpRuns, http = append(httpRuns, line), append(http, wps)
			}
		}
	}
	if figures[bench.Chain3], err = combined(bench.Chain3, embeddedRuns); err != nil {
		return err
	}
	if figures[bench.Chain3HTTP], err = combined(bench.Chain3HTTP, httpRuns); err != nil {
		return err
	}
	shares, med := bench.PairShares(embedded, http)
	figures[bench.Chain3HTTP][bench.ShareOfEmbedded] = med
	for _, run := range bench.TargetRuns {
		if run.Name == bench.Chain3 || run.Name == bench.Chain3HTTP {
			continue
		}
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
