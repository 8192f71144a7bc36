-- Perdure schema version 2.
--
-- waiting: what the run waits on now (activities, timers, events, children),
-- a JSON document written by every workflow task; NULL once finished.
ALTER TABLE runs ADD COLUMN waiting BLOB;

-- Listing current runs of one workflow, or in one status, newest first,
-- stays an index range scan with many runs.
CREATE INDEX runs_name_created ON runs (name, created_at, run_id) WHERE is_current = 1;
CREATE INDEX runs_status_created ON runs (status, created_at, run_id) WHERE is_current = 1;
