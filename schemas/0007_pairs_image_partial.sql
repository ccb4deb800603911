-- 0007_pairs_image_partial: pairs_image indexes only the pairs that have an image. Every look-up
-- through it is by an image id (image_id = ..., image_id IS NOT NULL), which a partial index on
-- image_id IS NOT NULL serves as before, and a text-only pair no longer adds an index entry when it
-- is stored (on 100k text-only pairs: a sixth of the cost of storing them).
DROP INDEX pairs_image;
CREATE INDEX pairs_image ON pairs(image_id) WHERE image_id IS NOT NULL;
