-- Perdure schema version 1.
--
-- Times are INTEGER unix microseconds, UTC (the zero time.Time is
-- -62135596800000000). Blobs are NULL when the Go value is nil.

-- runs: one row per run of a workflow instance.
--
-- ready_at is the time from which the run is claimable: the earliest
-- visible_at of its messages that can wake it (only control ones while the
-- run is SUSPENDED), but not before lease_until (a live lease, or the retry
-- delay of an abandoned workflow task). NULL when no message can wake it.
-- Every write that inserts or deletes a message, changes the status or the
-- lease keeps it up to date, so that claims and NextWakeup are range scans
-- of runs_ready.
CREATE TABLE runs (
    run_id             TEXT    NOT NULL PRIMARY KEY,
    instance_id        TEXT    NOT NULL,
    name               TEXT    NOT NULL,
    status             TEXT    NOT NULL,
    is_current         INTEGER NOT NULL,
    input              BLOB,
    output             BLOB,
    failure            BLOB,
    custom_status      BLOB,
    parent_instance_id TEXT    NOT NULL,
    parent_run_id      TEXT    NOT NULL,
    parent_seq         INTEGER NOT NULL,
    previous_run_id    TEXT    NOT NULL,
    task_queue         TEXT    NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    completed_at       INTEGER NOT NULL,
    history_len        INTEGER NOT NULL,
    task_error         TEXT    NOT NULL,
    lease_owner        TEXT    NOT NULL,
    lease_until        INTEGER NOT NULL,
    ready_at           INTEGER
);

-- At most one current run per instance id.
CREATE UNIQUE INDEX runs_current ON runs (instance_id) WHERE is_current = 1;
-- All runs of an instance (purge, listing by instance id).
CREATE INDEX runs_instance ON runs (instance_id, created_at, run_id);
-- Listing newest first with keyset pagination.
CREATE INDEX runs_created ON runs (created_at, run_id);
-- Claims and NextWakeup.
CREATE INDEX runs_ready ON runs (ready_at) WHERE ready_at IS NOT NULL;
-- LeasesRelease by owner.
CREATE INDEX runs_lease_owner ON runs (lease_owner) WHERE lease_owner <> '';
-- Purge by filter: finished current runs, oldest first.
CREATE INDEX runs_finished ON runs (completed_at, instance_id)
    WHERE is_current = 1 AND status IN ('COMPLETED', 'FAILED', 'TERMINATED', 'CONTINUED_AS_NEW');

-- history: the event log of each run, numbered from 1.
CREATE TABLE history (
    run_id TEXT    NOT NULL,
    id     INTEGER NOT NULL,
    type   TEXT    NOT NULL,
    time   INTEGER NOT NULL,
    data   BLOB,
    PRIMARY KEY (run_id, id)
);

-- messages: the inbox of each run. AUTOINCREMENT keeps ids increasing even
-- after the newest message is deleted.
CREATE TABLE messages (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id     TEXT    NOT NULL,
    type       TEXT    NOT NULL,
    visible_at INTEGER NOT NULL,
    control    INTEGER NOT NULL,
    data       BLOB
);

-- A run's inbox in id order (the rowid is the last column of the index).
CREATE INDEX messages_run ON messages (run_id);

-- activity_tasks: scheduled activities until they finish.
--
-- due_at is when the task needs a claimer: visible_at when READY; the
-- earlier of lease_until and deadline when RUNNING; the deadline when
-- PENDING (NULL without a deadline). It folds the (state, visible_at),
-- lease and deadline lookups of ActivityTaskClaim and NextWakeup into one
-- index range scan.
CREATE TABLE activity_tasks (
    run_id            TEXT    NOT NULL,
    seq               INTEGER NOT NULL,
    instance_id       TEXT    NOT NULL,
    name              TEXT    NOT NULL,
    task_queue        TEXT    NOT NULL,
    input             BLOB,
    options           BLOB,
    state             TEXT    NOT NULL,
    attempt           INTEGER NOT NULL,
    scheduled_at      INTEGER NOT NULL,
    visible_at        INTEGER NOT NULL,
    started_at        INTEGER NOT NULL,
    lease_owner       TEXT    NOT NULL,
    lease_until       INTEGER NOT NULL,
    deadline          INTEGER NOT NULL,
    heartbeat_details BLOB,
    last_failure      BLOB,
    attempts          BLOB,
    due_at            INTEGER,
    PRIMARY KEY (run_id, seq)
);

CREATE INDEX activity_tasks_due ON activity_tasks (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX activity_tasks_lease_owner ON activity_tasks (lease_owner) WHERE lease_owner <> '';
