package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/perdure/perdure/server/api"
)

// actionResult is what action commands print with --output json.
type actionResult struct {
	Accepted   bool   `json:"accepted"`
	Action     string `json:"action"`
	InstanceID string `json:"instanceId,omitempty"`
	Event      string `json:"event,omitempty"`
}

func printAction(cmd *cobra.Command, f *clientFlags, r actionResult, text string) error {
	if f.json() {
		return printJSON(cmd.OutOrStdout(), r)
	}
	fmt.Fprintln(cmd.OutOrStdout(), text)
	return nil
}

func newWorkflowRaiseCmd(f *clientFlags) *cobra.Command {
	var data string
	cmd := &cobra.Command{
		Use:   "raise ID EVENT",
		Short: "Raise an external event on an instance",
		Long: `Deliver the event EVENT with --data to the instance ID. Events raised before
the workflow waits for them are kept, in order, until it does (event names
match case-insensitively).`,
		Example: `  perdure workflow raise order-1 approval --data '{"approver":"Jane"}'
  perdure workflow raise order-1 cancel`,
		Args: exactArgs("ID", "EVENT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			raw, err := jsonArg(cmd, "data", data)
			if err != nil {
				return err
			}
			if err := c.RaiseEvent(cmd.Context(), args[0], args[1], raw); err != nil {
				return f.explain(err)
			}
			return printAction(cmd, f, actionResult{Accepted: true, Action: "raise", InstanceID: args[0], Event: args[1]},
				fmt.Sprintf("Raised event %s on %s.", args[1], args[0]))
		},
	}
	cmd.Flags().StringVar(&data, "data", "", "event data: a JSON value, @FILE, or - for standard input")
	return cmd
}

func newWorkflowTerminateCmd(f *clientFlags) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "terminate ID",
		Short: "Terminate an instance (and its running children)",
		Long: `End the instance ID with status TERMINATED, with an optional --reason. Its
running children are terminated too. Compensations do not run.`,
		Example: `  perdure workflow terminate order-1 --reason "customer cancelled"`,
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			if err := c.Terminate(cmd.Context(), args[0], reason); err != nil {
				return f.explain(err)
			}
			return printAction(cmd, f, actionResult{Accepted: true, Action: "terminate", InstanceID: args[0]},
				fmt.Sprintf("Termination of %s requested; it ends at its next step (perdure workflow wait %s).", args[0], args[0]))
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded in its history and failure")
	return cmd
}

func newWorkflowSuspendCmd(f *clientFlags) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "suspend ID",
		Short: "Suspend an instance until it is resumed",
		Long: `Pause the instance ID: it makes no progress until resumed. Events raised
meanwhile are kept; running activity attempts finish.`,
		Example: `  perdure workflow suspend order-1 --reason "waiting for the audit"`,
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			if err := c.Suspend(cmd.Context(), args[0], reason); err != nil {
				return f.explain(err)
			}
			return printAction(cmd, f, actionResult{Accepted: true, Action: "suspend", InstanceID: args[0]},
				fmt.Sprintf("Suspension of %s requested; resume it with perdure workflow resume %s.", args[0], args[0]))
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded in its history")
	return cmd
}

func newWorkflowResumeCmd(f *clientFlags) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:     "resume ID",
		Short:   "Resume a suspended instance",
		Example: `  perdure workflow resume order-1`,
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			if err := c.Resume(cmd.Context(), args[0], reason); err != nil {
				return f.explain(err)
			}
			return printAction(cmd, f, actionResult{Accepted: true, Action: "resume", InstanceID: args[0]},
				fmt.Sprintf("Resumed %s.", args[0]))
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded in its history")
	return cmd
}

func newWorkflowPurgeCmd(f *clientFlags) *cobra.Command {
	var (
		statuses  []string
		name      string
		olderThan time.Duration
		limit     int
		all       bool
	)
	cmd := &cobra.Command{
		Use:   "purge [ID]",
		Short: "Delete finished instances and their history",
		Long: `Delete the finished instance ID (all its runs and history), or every
finished instance that matches the filters. Running instances are never
purged: terminate them first. Without ID, give at least one filter, or
--all for every finished instance.`,
		Example: `  perdure workflow purge order-1
  perdure workflow purge --status COMPLETED --older-than 24h
  perdure workflow purge --name OrderWorkflow --status FAILED,TERMINATED --limit 1000
  perdure workflow purge --all`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			filtered := len(statuses) > 0 || name != "" || olderThan > 0 || limit > 0 || all
			if len(args) == 1 {
				if filtered {
					return fmt.Errorf("give an instance ID or filters (--status, --name, --older-than, --limit, --all), not both")
				}
				if err := c.Purge(cmd.Context(), args[0]); err != nil {
					return f.explain(err)
				}
				return printPurged(cmd, f, 1)
			}
			if len(statuses) == 0 && name == "" && olderThan == 0 && !all {
				return fmt.Errorf("purge what? give an instance ID, filters (--status COMPLETED --older-than 24h), or --all for every finished instance")
			}
			req := api.PurgeRequest{WorkflowName: name, Limit: limit, All: all}
			for _, s := range statuses {
				req.Statuses = append(req.Statuses, api.Status(s))
			}
			if olderThan > 0 {
				req.OlderThan = olderThan.String()
			}
			n, err := c.PurgeWhere(cmd.Context(), req)
			if err != nil {
				return f.explain(err)
			}
			return printPurged(cmd, f, n)
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&statuses, "status", nil, "only these finished statuses (COMPLETED, FAILED, TERMINATED, CONTINUED_AS_NEW)")
	fl.StringVar(&name, "name", "", "only instances of this workflow")
	fl.DurationVar(&olderThan, "older-than", 0, "only instances that finished more than this long ago, e.g. 24h")
	fl.IntVar(&limit, "limit", 0, "purge at most this many (0: no limit)")
	fl.BoolVar(&all, "all", false, "purge every finished instance (when no other filter is given)")
	return cmd
}

func printPurged(cmd *cobra.Command, f *clientFlags, n int) error {
	if f.json() {
		return printJSON(cmd.OutOrStdout(), api.PurgeResult{Purged: n})
	}
	plural := "s"
	if n == 1 {
		plural = ""
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Purged %d instance%s.\n", n, plural)
	return nil
}
