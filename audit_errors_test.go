package perdure_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/activity"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

func auditDecline(_ context.Context, _ string) (string, error) {
	return "", activity.NewNonRetryableError("CardDeclined", "card declined")
}

// AuditChargeChild fails because its activity failed.
func AuditChargeChild(ctx workflow.Context, _ string) (string, error) {
	return workflow.ExecuteActivity(ctx, auditDecline, "").Get(ctx)
}

// AuditErrorParent reports what errors.As finds in its child's error.
func AuditErrorParent(ctx workflow.Context, _ string) (string, error) {
	_, err := workflow.ExecuteChildWorkflow(ctx, AuditChargeChild, "").Get(ctx)
	var cwe *workflow.ChildWorkflowError
	var ae *workflow.ActivityError
	var app *workflow.ApplicationError
	out := fmt.Sprintf("child=%v activity=%v", errors.As(err, &cwe), errors.As(err, &ae))
	if ae != nil {
		out += fmt.Sprintf(" name=%s step=%d attempts=%d", ae.ActivityName, ae.Step, ae.Attempts)
	}
	if errors.As(err, &app) {
		out += " app=" + app.Type
	}
	return out, nil
}

// AuditFailingParent returns its child's error as its own.
func AuditFailingParent(ctx workflow.Context, _ string) (string, error) {
	return workflow.ExecuteChildWorkflow(ctx, AuditChargeChild, "").Get(ctx)
}

// The error of an activity that failed in a child workflow keeps its shape
// through the parent: errors.As finds the ChildWorkflowError, the
// ActivityError and the activity's own ApplicationError type.
func TestAuditErrorsThroughChildWorkflows(t *testing.T) {
	eachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, func(w *worker.Worker) {
			mustReg(worker.RegisterWorkflow(w, AuditErrorParent))
			mustReg(worker.RegisterWorkflow(w, AuditFailingParent))
			mustReg(worker.RegisterWorkflow(w, AuditChargeChild))
			mustReg(worker.RegisterActivity(w, auditDecline))
		})
		id, err := e.c.StartWorkflow(e.ctx, AuditErrorParent, "", perdure.StartOptions{})
		must(t, err)
		got, err := perdure.GetResult[string](e.ctx, e.c, id)
		must(t, err)
		if want := "child=true activity=true name=auditDecline step=1 attempts=1 app=CardDeclined"; got != want {
			t.Errorf("in the parent:\n got %s\nwant %s", got, want)
		}
		id, err = e.c.StartWorkflow(e.ctx, AuditFailingParent, "", perdure.StartOptions{})
		must(t, err)
		_, err = perdure.GetResult[string](e.ctx, e.c, id)
		var we *perdure.WorkflowError
		var app *workflow.ApplicationError
		if !errors.As(err, &we) || !errors.As(err, &app) || app.Type != "CardDeclined" {
			t.Errorf("at the client: %v: ApplicationError %+v, want type CardDeclined", err, app)
		}
	})
}
