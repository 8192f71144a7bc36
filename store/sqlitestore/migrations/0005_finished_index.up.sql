-- Perdure schema version 5.
--
-- runs_finished's condition named the finished statuses with IN: SQLite
-- evaluates an IN list of more than two constants through a temporary
-- B-tree it builds each time, and it evaluates the condition whenever a
-- run is inserted or its status or completed_at change, so every start
-- built one and every finish two. The same condition written with OR is
-- a few comparisons. The purge query repeats it word for word
-- (finishedCond in query.go): SQLite uses a partial index only for a
-- query whose WHERE contains its condition.
DROP INDEX runs_finished;
CREATE INDEX runs_finished ON runs (completed_at, instance_id)
    WHERE is_current = 1 AND (status = 'COMPLETED' OR status = 'FAILED' OR status = 'TERMINATED' OR status = 'CONTINUED_AS_NEW');
