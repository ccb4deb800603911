-- 0006_source_options: a file is ingested again when the options that change what is kept differ
-- (issue 16: the content hash alone made a re-run with --missing-images text-only a no-op).
-- options is the canonical text of those options (engine/index.c options_key); NULL for files
-- ingested before this migration (their options are unknown: the next index of the same content
-- replaces them).
ALTER TABLE source_files ADD COLUMN options TEXT;
