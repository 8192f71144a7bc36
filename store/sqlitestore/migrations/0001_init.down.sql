-- Reverts 0001_init.up.sql. Deletes every record.
DROP TABLE IF EXISTS activity_tasks;
DROP TABLE IF EXISTS messages;
DROP TABLE IF EXISTS history;
DROP TABLE IF EXISTS runs;
