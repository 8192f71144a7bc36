-- A history row holds either one event (type, time, data), or, when chunk
-- is set, the events first_id..id of one commit, framed in chunk (see
-- chunk.go): a commit that appends several events writes one row, and a
-- history is read in as many rows as it had commits.
ALTER TABLE history ADD COLUMN first_id INTEGER;
ALTER TABLE history ADD COLUMN chunk BLOB;
