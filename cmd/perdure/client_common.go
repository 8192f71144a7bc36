package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/perdure/perdure/httpclient"
)

// defaultAddress is where the client commands find a server by default
// (where `perdure dev` listens).
const defaultAddress = "http://127.0.0.1:3500"

// clientFlags are the flags shared by the client commands (`perdure
// workflow …`, `perdure activity …`).
type clientFlags struct {
	address string
	output  string
}

// addClientFlags adds --address and --output to a command group.
func addClientFlags(cmd *cobra.Command) *clientFlags {
	f := &clientFlags{}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.address, "address", envOr("PERDURE_ADDRESS", defaultAddress), "URL of the Perdure server (env PERDURE_ADDRESS)")
	pf.StringVarP(&f.output, "output", "o", "text", "output format: text (tables for people) or json (versioned documents for scripts)")
	cmd.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		switch f.output {
		case "text", "json":
			return nil
		}
		return fmt.Errorf("--output %q: use text or json", f.output)
	}
	return f
}

func (f *clientFlags) json() bool { return f.output == "json" }

func (f *clientFlags) client() (*httpclient.Client, error) {
	return httpclient.New(f.address)
}

// explain adds what to do next to errors of the HTTP client.
func (f *clientFlags) explain(err error) error {
	if err == nil {
		return nil
	}
	var ae *httpclient.Error
	if errors.As(err, &ae) {
		return err // the server's message says what to do
	}
	var ne net.Error
	if errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &ne) {
		return fmt.Errorf("%w\nIs a server running there? Start one with `perdure dev`, or point --address (env PERDURE_ADDRESS) at one", err)
	}
	return err
}

// jsonArg reads a JSON value given on the command line: inline JSON,
// @FILE for a file's content, or - for standard input. "" is no value.
func jsonArg(cmd *cobra.Command, flag, v string) (json.RawMessage, error) {
	var raw []byte
	switch {
	case v == "":
		return nil, nil
	case v == "-":
		b, err := io.ReadAll(cmd.InOrStdin())
		if err != nil {
			return nil, fmt.Errorf("--%s -: read standard input: %w", flag, err)
		}
		raw = b
	case strings.HasPrefix(v, "@"):
		b, err := os.ReadFile(v[1:])
		if err != nil {
			return nil, fmt.Errorf("--%s %s: %w", flag, v, err)
		}
		raw = b
	default:
		raw = []byte(v)
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, nil // an empty file or standard input: no value
	}
	if !json.Valid(raw) {
		var probe any
		err := json.Unmarshal(raw, &probe)
		return nil, fmt.Errorf("--%s is not valid JSON (%v): give a JSON value, for example --%s '{\"id\": 1}', --%s 42, or --%s '\"text\"' (strings need their quotes)",
			flag, err, flag, flag, flag)
	}
	return raw, nil
}

// timeArg reads a time flag: RFC 3339, or a duration meaning that long ago.
func timeArg(flag, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		return time.Now().Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("--%s %q: give an RFC 3339 time (2024-05-01T12:00:00Z) or a duration ago (24h)", flag, v)
	}
	return t, nil
}

// exactArgs is cobra.ExactArgs with a message naming the arguments.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == len(names) {
			return nil
		}
		return fmt.Errorf("%s needs %d argument(s), %s; got %d (see %s --help)",
			cmd.CommandPath(), len(names), strings.Join(names, " "), len(args), cmd.CommandPath())
	}
}
