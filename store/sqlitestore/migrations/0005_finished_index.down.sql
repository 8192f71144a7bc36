DROP INDEX runs_finished;
CREATE INDEX runs_finished ON runs (completed_at, instance_id)
    WHERE is_current = 1 AND status IN ('COMPLETED', 'FAILED', 'TERMINATED', 'CONTINUED_AS_NEW');
