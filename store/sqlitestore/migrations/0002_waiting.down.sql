DROP INDEX runs_status_created;
DROP INDEX runs_name_created;
ALTER TABLE runs DROP COLUMN waiting;
