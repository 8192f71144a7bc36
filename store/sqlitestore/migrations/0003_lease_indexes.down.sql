CREATE INDEX runs_lease_owner ON runs (lease_owner) WHERE lease_owner <> '';
CREATE INDEX activity_tasks_lease_owner ON activity_tasks (lease_owner) WHERE lease_owner <> '';
