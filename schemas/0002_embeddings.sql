-- 0002_embeddings: external embeddings (the team's own encoder), one set per kind per workspace.
-- Loaded by `mmaudit embed`; used by score / crossdist / audit with --features embeddings|both.

-- The set of a kind: loading a new one replaces the old set (and all its vectors) atomically.
CREATE TABLE embedding_sets (
  kind        TEXT PRIMARY KEY CHECK (kind IN ('image', 'text')),
  dim         INTEGER NOT NULL,
  rows        INTEGER NOT NULL,             -- vectors stored
  source      TEXT NOT NULL,                -- the vectors file (and ids file) as given
  sha256      TEXT NOT NULL,                -- content hash of the vectors file
  loaded_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

-- kind 'image': key = the image's content hash (images.sha256);
-- kind 'text':  key = lowercase hex SHA-256 of the response text's UTF-8 bytes.
CREATE TABLE embeddings (
  kind        TEXT NOT NULL REFERENCES embedding_sets(kind) ON DELETE CASCADE,
  key         TEXT NOT NULL,
  vec         BLOB NOT NULL,                -- float32[dim], little-endian
  PRIMARY KEY (kind, key)
) WITHOUT ROWID;
