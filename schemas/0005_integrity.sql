-- 0005_integrity: duplicate and conflict flags move from pairs.meta (the user's own fields) into
-- columns of their own, so a record's own "dup_group" or "conflict" field is kept as written.
-- Workspaces made before this migration had those keys written by dedup (which removed any user
-- field of that name first), so they are moved out of meta here. Images gain a perceptual hash of
-- their stored thumbnail for near-duplicate detection (filled after ingest; NULL until then).
ALTER TABLE pairs ADD COLUMN dup_group TEXT;                      -- 16 hex digits; NULL: no duplicate
ALTER TABLE pairs ADD COLUMN conflict INTEGER NOT NULL DEFAULT 0; -- 1: a duplicate has the opposite label
UPDATE pairs SET dup_group = json_extract(meta, '$.dup_group'),
                 conflict = coalesce(json_extract(meta, '$.conflict') = 1, 0),
                 meta = nullif(json_remove(meta, '$.dup_group', '$.conflict'), '{}')
  WHERE meta IS NOT NULL AND json_valid(meta)
    AND (json_extract(meta, '$.dup_group') IS NOT NULL OR json_extract(meta, '$.conflict') IS NOT NULL);
CREATE INDEX pairs_dup_group ON pairs(dataset_id, dup_group) WHERE dup_group IS NOT NULL;
ALTER TABLE images ADD COLUMN phash INTEGER;                      -- 64-bit DCT hash of the thumbnail's luminance
ALTER TABLE images ADD COLUMN mean_rgb INTEGER;                   -- thumbnail's mean colour, 0xRRGGBB
