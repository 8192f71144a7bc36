package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strings"
	"text/tabwriter"
)

// Repeated is the figures of several runs of one scenario (perdure bench
// --repeat): each figure the median of the runs, with the runs' values
// of the numbers that varied under "<key>_runs", and "repeat", the number
// of runs. Lists (such as long-history's resume_ms) hold every run's
// items in turn. Keys keep the order of a run's JSON object.
//
// The runs are separate processes: a run in a process that ran the
// scenario before starts warmer (the Go heap, pooled goroutines and their
// grown stacks, caches), so a fanout ran in 0.08–0.10 s after a first run
// of 0.17 s in one process, and 0.25–0.31 s in fresh ones.
type Repeated struct {
	keys   []string
	values map[string]any
	spread map[string][]float64 // the runs' values of the numbers that varied
	runs   int
}

// Combine returns the medians of runs, the JSON objects of runs of one
// scenario (the last line of perdure bench --output json).
func Combine(runs [][]byte) (*Repeated, error) {
	if len(runs) == 0 {
		return nil, errors.New("bench: no runs to combine")
	}
	c := &Repeated{values: map[string]any{}, spread: map[string][]float64{}, runs: len(runs)}
	var objs []map[string]any
	for i, b := range runs {
		var err error
		if i == 0 {
			if c.keys, err = objectKeys(b); err != nil {
				return nil, err
			}
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("bench: run %d: %w", i+1, err)
		}
		objs = append(objs, m)
	}
	for _, k := range c.keys {
		var nums []float64
		var lists []any
		same := true
		for _, m := range objs {
			v := m[k]
			switch v := v.(type) {
			case float64:
				nums = append(nums, v)
			case []any:
				lists = append(lists, v...)
			}
			same = same && reflect.DeepEqual(v, objs[0][k])
		}
		switch {
		case len(nums) == len(objs):
			c.values[k] = median(nums)
			if !same {
				c.spread[k] = nums
			}
		case lists != nil:
			c.values[k] = lists
		case same:
			c.values[k] = objs[0][k]
		default:
			return nil, fmt.Errorf("bench: the runs differ in %s (%v, %v): not runs of one scenario", k, objs[0][k], objs[len(objs)-1][k])
		}
	}
	return c, nil
}

// objectKeys returns the keys of the JSON object b in order.
func objectKeys(b []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil { // {
		return nil, err
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, t.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	// The figures have at most microsecond digits: no float residue.
	return math.Round((s[n/2-1]+s[n/2])/2*1e6) / 1e6
}

// MarshalJSON writes the medians in the runs' key order, then the values
// of the numbers that varied ("<key>_runs") and "repeat".
func (c *Repeated) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	field := func(k string, v any) error {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return err
		}
		vb, err := json.Marshal(v)
		if err != nil {
			return err
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
		return nil
	}
	for _, k := range c.keys {
		if err := field(k, c.values[k]); err != nil {
			return nil, err
		}
	}
	for _, k := range c.keys {
		if s, ok := c.spread[k]; ok {
			if err := field(k+"_runs", s); err != nil {
				return nil, err
			}
		}
	}
	if err := field("repeat", c.runs); err != nil {
		return nil, err
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// WriteTable writes each figure's median, and the range of the runs where
// they differed.
func (c *Repeated) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%v (%d runs: medians, and the runs' range where they differ)\n", c.values["scenario"], c.runs)
	for _, k := range c.keys {
		v := c.values[k]
		if l, ok := v.([]any); ok {
			v = fmt.Sprintf("%d values", len(l))
		}
		line := fmt.Sprintf("  %s\t%v", strings.ReplaceAll(k, "_", " "), v)
		if s, ok := c.spread[k]; ok {
			line += fmt.Sprintf("\t%v – %v", slices.Min(s), slices.Max(s))
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}
