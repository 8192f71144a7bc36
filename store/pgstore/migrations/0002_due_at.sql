-- Perdure PostgreSQL schema, version 2.
--
-- activity_tasks.due_at is no longer a generated column: the statements
-- that insert a task or change its state, visibility, lease or deadline
-- set it themselves (to the same value). PostgreSQL prepares the
-- expression of a stored generated column anew for every statement that
-- inserts or updates the table, which cost more than the rest of the
-- insert of a task. The values and the index stay.
ALTER TABLE activity_tasks ALTER COLUMN due_at DROP EXPRESSION;
