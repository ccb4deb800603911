-- 0001_init: the workspace schema. One SQLite file per audit workspace (WAL mode).
-- Every stage reads its input from here and writes its output here.

CREATE TABLE datasets (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

-- One row per ingested input file; (dataset, content hash) is unique, which makes ingest idempotent.
CREATE TABLE source_files (
  id          INTEGER PRIMARY KEY,
  dataset_id  INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
  path        TEXT NOT NULL,
  sha256      TEXT NOT NULL,
  bytes       INTEGER NOT NULL,
  records     INTEGER NOT NULL DEFAULT 0,   -- non-empty lines read
  pairs       INTEGER NOT NULL DEFAULT 0,   -- pairs kept
  errors      INTEGER NOT NULL DEFAULT 0,   -- records (or pairs) rejected
  images_root TEXT,                         -- --images DIR|ARCHIVE used, or the file's folder
  ingested_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
  UNIQUE (dataset_id, sha256)
);

-- Each distinct image (by content hash) once, however many pairs use it.
CREATE TABLE images (
  id          INTEGER PRIMARY KEY,
  sha256      TEXT NOT NULL UNIQUE,
  width       INTEGER NOT NULL,
  height      INTEGER NOT NULL,
  format      TEXT NOT NULL,                -- png, jpeg, gif, bmp, ...
  bytes       INTEGER NOT NULL,             -- encoded size
  source      TEXT,                         -- where it was first read from (path or archive:member)
  thumb       BLOB,                         -- small JPEG (<= 160 px side) for reports
  feat        BLOB,                         -- float32[feat_dim] built-in image features (unstandardized)
  feat_dim    INTEGER NOT NULL DEFAULT 0,
  feat_version INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE pairs (
  id          INTEGER PRIMARY KEY,
  dataset_id  INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
  file_id     INTEGER NOT NULL REFERENCES source_files(id) ON DELETE CASCADE,
  line        INTEGER NOT NULL,             -- 1-based line of the record in its file
  ext_id      TEXT NOT NULL,                -- id as in the input (or derived: file:line, id#i>j)
  prompt      TEXT NOT NULL,
  chosen      TEXT NOT NULL,
  rejected    TEXT NOT NULL,
  image_id    INTEGER REFERENCES images(id),
  image_ref   TEXT,                         -- the image field as written in the record (data URIs elided)
  meta        TEXT,                         -- other fields of the record, as JSON
  UNIQUE (dataset_id, ext_id)
);
CREATE INDEX pairs_dataset ON pairs(dataset_id);
CREATE INDEX pairs_image ON pairs(image_id);

CREATE TABLE ingest_errors (
  id          INTEGER PRIMARY KEY,
  dataset_id  INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
  file_id     INTEGER NOT NULL REFERENCES source_files(id) ON DELETE CASCADE,
  path        TEXT NOT NULL,
  line        INTEGER NOT NULL,
  code        TEXT NOT NULL,                -- short machine code: bad-json, missing-field, ...
  reason      TEXT NOT NULL                 -- one sentence for a human, says what to do
);
CREATE INDEX ingest_errors_dataset ON ingest_errors(dataset_id);

-- Every run of score / crossdist / report is recorded so it can be reproduced.
CREATE TABLE runs (
  id          INTEGER PRIMARY KEY,
  kind        TEXT NOT NULL,                -- score | crossdist
  status      TEXT NOT NULL DEFAULT 'running', -- running | done | failed
  seed        INTEGER NOT NULL,
  options     TEXT NOT NULL,                -- JSON
  versions    TEXT NOT NULL,                -- JSON: mmaudit, sqlite, openblas, ...
  command     TEXT,                         -- the command line
  started_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
  finished_at TEXT,
  seconds     REAL,
  metrics     TEXT                          -- JSON, filled when done
);

-- Held-out per-pair scores of a score run (one dataset per run row in run_datasets).
CREATE TABLE run_datasets (
  run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  dataset_id  INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
  metrics     TEXT,                         -- JSON: text_accuracy, mm_accuracy, shortcut_rate, sfd, blind...
  PRIMARY KEY (run_id, dataset_id)
);

CREATE TABLE pair_scores (
  run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  pair_id     INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
  fold        INTEGER NOT NULL,
  p_text      REAL NOT NULL,                -- sigmoid(held-out text-only margin)
  p_mm        REAL NOT NULL,                -- sigmoid(held-out standard MM-RM margin)
  p_sa        REAL NOT NULL,                -- sigmoid(held-out shortcut-aware MM-RM margin)
  sfc         REAL NOT NULL,                -- L_t / (L + L_t) at the held-out margins
  category    TEXT NOT NULL,                -- text-shortcut | needs-image | suspect-label | ambiguous
  PRIMARY KEY (run_id, pair_id)
) WITHOUT ROWID;

-- Text features that drive the text-only proxy (trained on all pairs of the dataset).
CREATE TABLE top_features (
  run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  dataset_id  INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
  rank        INTEGER NOT NULL,
  feature     TEXT NOT NULL,
  weight      REAL NOT NULL,
  present     REAL,                         -- share of pairs where the feature differs between answers
  acc_present REAL,                         -- held-out text accuracy on those pairs
  PRIMARY KEY (run_id, dataset_id, rank)
);

-- Cross-distribution matrices: one row per (method, train, test) cell.
CREATE TABLE crossdist_cells (
  run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  method      TEXT NOT NULL,                -- text | standard | shortcut-aware
  train_ds    INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
  test_ds     INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
  n           INTEGER NOT NULL,
  accuracy    REAL NOT NULL,
  sfd         REAL,                         -- NULL when one side of the split is empty
  PRIMARY KEY (run_id, method, train_ds, test_ds)
);
