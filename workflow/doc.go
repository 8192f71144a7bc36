// Package workflow is the API that workflow code uses: plain Go functions of
// the form
//
//	func MyWorkflow(ctx workflow.Context, in Input) (Output, error)
//
// that call activities, sleep on durable timers, wait for external events,
// start child workflows and run branches concurrently, all through ctx.
//
// Workflow code is replayed from its history after a crash, a restart or an
// eviction from the cache, so it must be deterministic: take time from
// workflow.Now, randomness from workflow.Random and workflow.NewUUID, run
// anything else that is not deterministic in an activity or workflow.Run,
// and use workflow.Go, futures and selectors instead of goroutines and
// channels. When code changes break that rule for running workflows, the
// engine reports a readable diff instead of corrupting them; guard such
// changes with GetVersion.
package workflow
