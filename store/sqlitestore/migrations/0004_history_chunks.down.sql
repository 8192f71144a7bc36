-- The chunks were expanded into one row per event before this runs
-- (expandChunks in chunk.go).
ALTER TABLE history DROP COLUMN chunk;
ALTER TABLE history DROP COLUMN first_id;
