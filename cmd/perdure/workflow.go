package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/spf13/cobra"

	"github.com/perdure/perdure/httpclient"
	"github.com/perdure/perdure/server/api"
)

func init() { addCommand(newWorkflowCmd) }

func newWorkflowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "workflow",
		Aliases: []string{"wf"},
		Short:   "Start, inspect and control workflow instances on a Perdure server",
		Long: `Start, inspect and control workflow instances through a Perdure server's
HTTP API (perdure dev or perdure server), at --address or $PERDURE_ADDRESS.

Output is a table for people by default; --output json prints the API's
versioned documents (perdure.instance/v1, perdure.instanceList/v1,
perdure.history/v1) for scripts.`,
		Example: `  perdure workflow start OrderWorkflow --input '{"item":"paperclips"}' --id order-1
  perdure workflow wait order-1
  perdure workflow list --status RUNNING
  perdure workflow history order-1 --output json > order-1.history.json`,
	}
	f := addClientFlags(cmd)
	cmd.AddCommand(newWorkflowStartCmd(f), newWorkflowRunCmd(f), newWorkflowStatusCmd(f), newWorkflowWaitCmd(f),
		newWorkflowListCmd(f), newWorkflowHistoryCmd(f), newWorkflowRaiseCmd(f), newWorkflowTerminateCmd(f),
		newWorkflowSuspendCmd(f), newWorkflowResumeCmd(f), newWorkflowPurgeCmd(f))
	return cmd
}

// startFlags are the flags of start and run.
type startFlags struct {
	input, id, key string
}

func (s *startFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&s.input, "input", "", "workflow input: a JSON value, @FILE, or - for standard input")
	cmd.Flags().StringVar(&s.id, "id", "", "instance id (default: the idempotency key, else a random id)")
	cmd.Flags().StringVar(&s.key, "idempotency-key", "", "retries with this key return the same instance, even after it finished")
}

func (s *startFlags) start(cmd *cobra.Command, f *clientFlags, c *httpclient.Client, name string, wait time.Duration) (*httpclient.StartResult, error) {
	input, err := jsonArg(cmd, "input", s.input)
	if err != nil {
		return nil, err
	}
	res, err := c.Start(cmd.Context(), api.StartRequest{WorkflowName: name, InstanceID: s.id, Input: input},
		httpclient.StartOptions{IdempotencyKey: s.key, Wait: wait})
	return res, f.explain(err)
}

func newWorkflowStartCmd(f *clientFlags) *cobra.Command {
	var s startFlags
	cmd := &cobra.Command{
		Use:   "start NAME",
		Short: "Start a workflow instance and return at once",
		Long: `Start an instance of the workflow NAME. The start is durable when the command
returns. Starting an id that is running with the same input returns that
instance; with another input it fails.`,
		Example: `  perdure workflow start TaskChainWorkflow --input 1
  perdure workflow start OrderWorkflow --id order-1 --input '{"item":"paperclips","quantity":3}'
  perdure workflow start OrderWorkflow --input @order.json --idempotency-key order-1`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			res, err := s.start(cmd, f, c, args[0], 0)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.json() {
				return printJSON(out, res.Instance)
			}
			in := res.Instance
			switch {
			case res.Created:
				fmt.Fprintf(out, "Started %s (workflow %s, run %s).\n", in.InstanceID, in.WorkflowName, in.RunID)
			case in.Finished():
				fmt.Fprintf(out, "%s was already started with this idempotency key and has finished: %s.\n", in.InstanceID, in.Status)
			default:
				fmt.Fprintf(out, "%s is already %s with the same input; nothing new was started.\n", in.InstanceID, in.Status)
			}
			fmt.Fprintf(out, "  follow it:   perdure workflow wait %s\n  its status:  perdure workflow status %s\n", in.InstanceID, in.InstanceID)
			return nil
		},
	}
	s.register(cmd)
	return cmd
}

func newWorkflowRunCmd(f *clientFlags) *cobra.Command {
	var s startFlags
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "run NAME",
		Short: "Start a workflow instance and wait for its result, showing its progress",
		Long: `Start an instance of the workflow NAME and follow it until it finishes: the
current step, what it waits on and activity attempts, live on a terminal,
as lines otherwise. Exits with status 1 unless the instance COMPLETED.
Stopping the command (Ctrl-C, --timeout) does not stop the instance.`,
		Example: `  perdure workflow run TaskChainWorkflow --input 1
  perdure workflow run OrderWorkflow --input @order.json --timeout 5m --output json`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			res, err := s.start(cmd, f, c, args[0], 0)
			if err != nil {
				return err
			}
			if !f.json() {
				verb := "Started"
				if !res.Created {
					verb = "Following the existing instance"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s (workflow %s).\n", verb, res.Instance.InstanceID, res.Instance.WorkflowName)
			}
			return waitAndShow(cmd, f, c, res.Instance.InstanceID, timeout)
		},
	}
	s.register(cmd)
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "stop waiting after this long (0: wait until it finishes); the instance keeps running")
	return cmd
}

func newWorkflowWaitCmd(f *clientFlags) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "wait ID",
		Short: "Wait for an instance to finish, showing its progress",
		Long: `Follow the instance ID until it finishes, with one long-poll request at a
time (no polling loop): the current step, what it waits on and activity
attempts, live on a terminal, as lines otherwise. Exits with status 1
unless the instance COMPLETED.`,
		Example: `  perdure workflow wait order-1
  perdure workflow wait order-1 --timeout 30s --output json`,
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			return waitAndShow(cmd, f, c, args[0], timeout)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "stop waiting after this long (0: wait until it finishes)")
	return cmd
}

// waitAndShow follows an instance, prints its final status, and fails
// unless it completed.
func waitAndShow(cmd *cobra.Command, f *clientFlags, c *httpclient.Client, id string, timeout time.Duration) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
	defer stop()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	out := cmd.OutOrStdout()
	inst, err := follow(ctx, c, id, out, f.json())
	if err != nil && (inst == nil || ctx.Err() == nil) {
		return f.explain(err)
	}
	if f.json() {
		if perr := printJSON(out, inst); perr != nil {
			return perr
		}
	} else {
		fmt.Fprintln(out)
		printInstance(out, inst)
	}
	if err != nil {
		why := "was interrupted"
		if errors.Is(err, context.DeadlineExceeded) {
			why = "timed out after " + timeout.String()
		}
		return fmt.Errorf("the wait %s; %s is still %s and keeps running: perdure workflow wait %s", why, id, inst.Status, id)
	}
	if inst.Status != "COMPLETED" {
		return fmt.Errorf("instance %s %s: %s", id, inst.Status, fmtFailure(inst.Failure))
	}
	return nil
}

func newWorkflowStatusCmd(f *clientFlags) *cobra.Command {
	var runID string
	cmd := &cobra.Command{
		Use:   "status ID",
		Short: "Show an instance's status and what it waits on",
		Long: `Show the status of the instance ID: input, output, custom status, failure,
and while it runs its pending steps (activities with their attempts and
last errors, timers, event waits, children). --output json prints the
perdure.instance/v1 document.`,
		Example: `  perdure workflow status order-1
  perdure workflow status order-1 --output json | jq .output
  perdure workflow status order-1 --run-id 5f2c0d4e-…`,
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.json() || runID != "" {
				inst, err := c.GetRun(cmd.Context(), args[0], runID)
				if err != nil {
					return f.explain(err)
				}
				if f.json() {
					return printJSON(out, inst)
				}
				printInstance(out, inst)
				return nil
			}
			p, err := c.Progress(cmd.Context(), args[0], "", 0)
			if err != nil {
				return f.explain(err)
			}
			printProgress(out, p)
			return nil
		},
	}
	cmd.Flags().StringVar(&runID, "run-id", "", "show this run of the instance instead of the current one")
	return cmd
}

func newWorkflowListCmd(f *clientFlags) *cobra.Command {
	var (
		o                     httpclient.ListOptions
		statuses              []string
		createdAfter, created string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List workflow instances, newest first",
		Long: `List instances, newest first, one page at a time (--limit); the command
prints how to get the next page. --output json prints the
perdure.instanceList/v1 document, whose nextPageToken goes to --page-token.`,
		Example: `  perdure workflow list
  perdure workflow list --status RUNNING --name OrderWorkflow --limit 20
  perdure workflow list --status FAILED,TERMINATED --created-after 24h
  perdure workflow list --id-prefix order- --page-token eyJ…`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			if o.PageSize < 1 || o.PageSize > 1000 {
				return fmt.Errorf("--limit %d: give 1 to 1000 instances per page", o.PageSize)
			}
			for _, s := range statuses {
				o.Statuses = append(o.Statuses, api.Status(s))
			}
			if o.CreatedAfter, err = timeArg("created-after", createdAfter); err != nil {
				return err
			}
			if o.CreatedBefore, err = timeArg("created-before", created); err != nil {
				return err
			}
			page, err := c.List(cmd.Context(), o)
			if err != nil {
				return f.explain(err)
			}
			out := cmd.OutOrStdout()
			if f.json() {
				return printJSON(out, page)
			}
			if len(page.Instances) == 0 {
				fmt.Fprintln(out, "No instances match.")
				return nil
			}
			printInstances(out, page.Instances)
			if page.NextPageToken != "" {
				fmt.Fprintf(out, "\nMore instances: add --page-token %s\n", page.NextPageToken)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&statuses, "status", nil, "only these statuses (PENDING, RUNNING, SUSPENDED, COMPLETED, FAILED, TERMINATED, CONTINUED_AS_NEW); repeat or separate with commas")
	fl.StringVar(&o.Name, "name", "", "only instances of this workflow")
	fl.StringVar(&o.InstanceIDPrefix, "id-prefix", "", "only instance ids starting with this")
	fl.StringVar(&createdAfter, "created-after", "", "only instances created after this time (RFC 3339) or this long ago (24h)")
	fl.StringVar(&created, "created-before", "", "only instances created before this time (RFC 3339) or this long ago (1h)")
	fl.BoolVar(&o.AllRuns, "all-runs", false, "include earlier runs (continue-as-new, replaced runs)")
	fl.IntVar(&o.PageSize, "limit", 50, "instances per page (1–1000)")
	fl.StringVar(&o.PageToken, "page-token", "", "the page to show: the token printed by the previous page")
	return cmd
}

func newWorkflowHistoryCmd(f *clientFlags) *cobra.Command {
	var runID string
	cmd := &cobra.Command{
		Use:   "history ID",
		Short: "Show or export the event history of an instance",
		Long: `Show the event history of the instance's current run (or --run-id). With
--output json the whole history is printed as the server's
perdure.history/v1 document: save it to replay the run in a test.`,
		Example: `  perdure workflow history order-1
  perdure workflow history order-1 --output json > order-1.history.json`,
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			h, err := c.History(cmd.Context(), args[0], httpclient.HistoryOptions{RunID: runID})
			if err != nil {
				return f.explain(err)
			}
			out := cmd.OutOrStdout()
			if f.json() {
				return printJSON(out, h)
			}
			fmt.Fprintf(out, "%s (workflow %s, run %s): %s, %d events\n\n", h.InstanceID, h.WorkflowName, h.RunID, h.Status, len(h.Events))
			printHistory(out, h)
			return nil
		},
	}
	cmd.Flags().StringVar(&runID, "run-id", "", "a run of the instance other than the current one")
	return cmd
}
