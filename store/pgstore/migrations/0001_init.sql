-- Perdure PostgreSQL schema, version 1.
--
-- Times are timestamptz (microsecond precision, as the engine writes them).
-- A time that is not set (a run that has not completed, a task without a
-- lease or deadline) is the zero time of Go, 0001-01-01 00:00:00+00, so
-- that every time column but ready_at and due_at is NOT NULL. Payloads are
-- bytea, NULL when the Go value is nil. Identifiers use the "C" collation:
-- run ids compare byte by byte, as RunList's order and instance id prefixes
-- need.

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
    run_id             text COLLATE "C" NOT NULL PRIMARY KEY,
    instance_id        text COLLATE "C" NOT NULL,
    name               text        NOT NULL,
    status             text        NOT NULL,
    is_current         boolean     NOT NULL,
    input              bytea,
    output             bytea,
    failure            bytea,
    custom_status      bytea,
    parent_instance_id text        NOT NULL,
    parent_run_id      text        NOT NULL,
    parent_seq         bigint      NOT NULL,
    previous_run_id    text        NOT NULL,
    task_queue         text        NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    completed_at       timestamptz NOT NULL,
    history_len        bigint      NOT NULL,
    task_error         text        NOT NULL,
    lease_owner        text        NOT NULL,
    lease_until        timestamptz NOT NULL,
    ready_at           timestamptz,
    waiting            bytea
) WITH (fillfactor = 80);

-- At most one current run per instance id.
CREATE UNIQUE INDEX runs_current ON runs (instance_id) WHERE is_current;
-- All runs of an instance (purge, listing by instance id).
CREATE INDEX runs_instance ON runs (instance_id, created_at, run_id);
-- Listing newest first with keyset pagination.
CREATE INDEX runs_created ON runs (created_at, run_id);
-- Listing current runs of one workflow, or in one status.
CREATE INDEX runs_name_created ON runs (name, created_at, run_id) WHERE is_current;
CREATE INDEX runs_status_created ON runs (status, created_at, run_id) WHERE is_current;
-- Claims, eager leases, LeasesRelease and NextWakeup.
CREATE INDEX runs_ready ON runs (ready_at) WHERE ready_at IS NOT NULL;
-- Purge by filter: finished current runs, oldest first.
CREATE INDEX runs_finished ON runs (completed_at, instance_id)
    WHERE is_current AND status IN ('COMPLETED', 'FAILED', 'TERMINATED', 'CONTINUED_AS_NEW');

-- history: the event log of each run, numbered from 1.
CREATE TABLE history (
    run_id text COLLATE "C" NOT NULL,
    id     bigint      NOT NULL,
    type   text        NOT NULL,
    time   timestamptz NOT NULL,
    data   bytea,
    PRIMARY KEY (run_id, id)
);

-- messages: the inbox of each run. Ids come from one sequence, so they
-- increase in insertion order.
CREATE TABLE messages (
    id         bigint GENERATED ALWAYS AS IDENTITY,
    run_id     text COLLATE "C" NOT NULL,
    type       text        NOT NULL,
    visible_at timestamptz NOT NULL,
    control    boolean     NOT NULL,
    data       bytea,
    PRIMARY KEY (run_id, id)
);

-- activity_tasks: scheduled activities until they finish.
--
-- due_at is when the task needs a claimer: visible_at when READY; the
-- earlier of lease_until and deadline when RUNNING; the deadline when
-- PENDING (NULL without a deadline). PostgreSQL computes it on every write,
-- and it folds the lookups of ActivityTaskClaim and NextWakeup into one
-- range scan of activity_tasks_due.
CREATE TABLE activity_tasks (
    run_id            text COLLATE "C" NOT NULL,
    seq               bigint      NOT NULL,
    instance_id       text COLLATE "C" NOT NULL,
    name              text        NOT NULL,
    task_queue        text        NOT NULL,
    input             bytea,
    options           bytea,
    state             text        NOT NULL,
    attempt           integer     NOT NULL,
    scheduled_at      timestamptz NOT NULL,
    visible_at        timestamptz NOT NULL,
    started_at        timestamptz NOT NULL,
    lease_owner       text        NOT NULL,
    lease_until       timestamptz NOT NULL,
    deadline          timestamptz NOT NULL,
    heartbeat_details bytea,
    last_failure      bytea,
    attempts          bytea,
    due_at            timestamptz GENERATED ALWAYS AS (
        CASE state
            WHEN 'READY' THEN visible_at
            WHEN 'RUNNING' THEN
                CASE WHEN deadline <> TIMESTAMPTZ '0001-01-01 00:00:00+00' AND deadline < lease_until
                    THEN deadline ELSE lease_until END
            WHEN 'PENDING' THEN NULLIF(deadline, TIMESTAMPTZ '0001-01-01 00:00:00+00')
        END) STORED,
    PRIMARY KEY (run_id, seq)
) WITH (fillfactor = 80);

CREATE INDEX activity_tasks_due ON activity_tasks (due_at) WHERE due_at IS NOT NULL;

-- perdure_fail raises the error that fails one operation of a batch: the
-- statements of an operation check what the contract requires (a lease, an
-- attempt, a target run) and call it when the check fails, so that the
-- operation's savepoint is rolled back. code is a five-character SQLSTATE of
-- class PD, which the store maps onto its sentinel errors.
CREATE FUNCTION perdure_fail(code text, message text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message;
END
$$;
