-- Perdure schema version 3.
--
-- Leases change on every workflow task and activity attempt; indexing
-- lease_owner cost an index update each time for the benefit of
-- LeasesRelease alone, which now finds leased runs and tasks through
-- runs_ready and activity_tasks_due (a leased run always has ready_at, a
-- RUNNING task always has due_at).
DROP INDEX runs_lease_owner;
DROP INDEX activity_tasks_lease_owner;
