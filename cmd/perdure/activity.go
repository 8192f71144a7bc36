package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/perdure/perdure/server/api"
)

func init() { addCommand(newActivityCmd) }

func newActivityCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "activity",
		Short: "Complete, fail or heartbeat an activity waiting for completion by task token",
		Long: `An activity that returns activity.ErrResultPending hands its task token
(activity.GetInfo(ctx).TaskToken) to another system and waits. These
commands finish or extend that attempt through the server at --address.
perdure workflow status ID shows the token of a waiting attempt.

A token names one attempt: after the attempt timed out, failed or finished,
the server rejects it.`,
		Example: `  perdure activity complete eyJpIjoi… --result '{"shipped":true}'
  perdure activity fail eyJpIjoi… --error "card declined" --type CardError
  perdure activity heartbeat eyJpIjoi… --details '{"sent":3}'`,
	}
	f := addClientFlags(cmd)
	cmd.AddCommand(newActivityCompleteCmd(f), newActivityFailCmd(f), newActivityHeartbeatCmd(f))
	return cmd
}

func newActivityCompleteCmd(f *clientFlags) *cobra.Command {
	var result string
	cmd := &cobra.Command{
		Use:   "complete TOKEN",
		Short: "Complete an activity attempt with a result",
		Example: `  perdure activity complete eyJpIjoi… --result '"delivered"'
  perdure activity complete eyJpIjoi… --result @result.json`,
		Args: exactArgs("TOKEN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			raw, err := jsonArg(cmd, "result", result)
			if err != nil {
				return err
			}
			if err := c.CompleteActivity(cmd.Context(), args[0], raw); err != nil {
				return f.explain(err)
			}
			return printAction(cmd, f, actionResult{Accepted: true, Action: "complete"}, "Completed the activity attempt.")
		},
	}
	cmd.Flags().StringVar(&result, "result", "", "the activity's result: a JSON value, @FILE, or - for standard input")
	return cmd
}

func newActivityFailCmd(f *clientFlags) *cobra.Command {
	var (
		e       api.ActivityError
		details string
	)
	cmd := &cobra.Command{
		Use:   "fail TOKEN",
		Short: "Fail an activity attempt; its retry policy decides whether it runs again",
		Example: `  perdure activity fail eyJpIjoi… --error "card declined" --type CardError
  perdure activity fail eyJpIjoi… --error "order cancelled" --non-retryable`,
		Args: exactArgs("TOKEN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if e.Message == "" {
				return fmt.Errorf("--error is required: say what went wrong, e.g. --error \"card declined\"")
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			if e.Details, err = jsonArg(cmd, "details", details); err != nil {
				return err
			}
			if err := c.FailActivity(cmd.Context(), args[0], e); err != nil {
				return f.explain(err)
			}
			return printAction(cmd, f, actionResult{Accepted: true, Action: "fail"}, "Failed the activity attempt.")
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&e.Message, "error", "", "the error message (required)")
	fl.StringVar(&e.Type, "type", "", "the error type, matched by retry policies' non-retryable types")
	fl.BoolVar(&e.NonRetryable, "non-retryable", false, "do not retry the activity")
	fl.StringVar(&details, "details", "", "error details: a JSON value, @FILE, or - for standard input")
	return cmd
}

func newActivityHeartbeatCmd(f *clientFlags) *cobra.Command {
	var details string
	cmd := &cobra.Command{
		Use:   "heartbeat TOKEN",
		Short: "Record progress of an activity attempt and keep it alive",
		Long: `Record progress of the attempt: --details are kept for the next attempt
if this one fails, and the heartbeat resets its heartbeat timeout.`,
		Example: `  perdure activity heartbeat eyJpIjoi… --details '{"sent":3}'`,
		Args:    exactArgs("TOKEN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			raw, err := jsonArg(cmd, "details", details)
			if err != nil {
				return err
			}
			if err := c.HeartbeatActivity(cmd.Context(), args[0], raw); err != nil {
				return f.explain(err)
			}
			return printAction(cmd, f, actionResult{Accepted: true, Action: "heartbeat"}, "Recorded the heartbeat.")
		},
	}
	cmd.Flags().StringVar(&details, "details", "", "progress details: a JSON value, @FILE, or - for standard input")
	return cmd
}
