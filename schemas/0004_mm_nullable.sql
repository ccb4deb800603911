-- 0004_mm_nullable: a text-only dataset trains no multimodal RM, so its pairs have no p_mm, p_sa
-- or sfc (NULL instead of a copy of the text-only figure); every scored pair with an image gets the
-- counterfactual image test of its held-out MM-RM margin. SQLite cannot drop NOT NULL in place,
-- so pair_scores is rebuilt (rows kept as they are).
CREATE TABLE pair_scores_new (
  run_id         INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  pair_id        INTEGER NOT NULL REFERENCES pairs(id) ON DELETE CASCADE,
  fold           INTEGER NOT NULL,
  p_text         REAL NOT NULL,   -- sigmoid(held-out text-only margin)
  p_mm           REAL,            -- sigmoid(held-out standard MM-RM margin); NULL: text-only dataset
  p_sa           REAL,            -- sigmoid(held-out shortcut-aware MM-RM margin); NULL likewise
  sfc            REAL,            -- L_t / (L + L_t) at the held-out margins; NULL likewise
  category       TEXT NOT NULL,   -- text-shortcut | needs-image | suspect-label | ambiguous
  chosen_chars   INTEGER,         -- UTF-8 code points of the chosen answer
  rejected_chars INTEGER,         -- of the rejected one
  image_effect   REAL,            -- |MM margin - MM margin with another pair's image|; NULL: not tested
  swap_flip      INTEGER,         -- 1: the MM-RM's preference flips with that image; NULL: not tested
  blank_flip     INTEGER,         -- 1: it flips with a blank image (the training mean); NULL likewise
  PRIMARY KEY (run_id, pair_id)
) WITHOUT ROWID;
INSERT INTO pair_scores_new(run_id, pair_id, fold, p_text, p_mm, p_sa, sfc, category, chosen_chars,
                            rejected_chars)
  SELECT run_id, pair_id, fold, p_text, p_mm, p_sa, sfc, category, chosen_chars, rejected_chars
  FROM pair_scores;
DROP TABLE pair_scores;
ALTER TABLE pair_scores_new RENAME TO pair_scores;
