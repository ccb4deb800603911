/* imgfeat.h - built-in image features from decoded pixels.
 *
 * A decoded RGB image is reduced to a fixed-size thumbnail, then to a feature vector: colour layout
 * grid, colour histogram, gradient-orientation histogram, brightness stats. Features are NOT
 * standardized here (that happens on each training split). Computed once per image at index time
 * and cached in images.feat. Does not decode files (see images.h). */
#ifndef ENG_IMGFEAT_H
#define ENG_IMGFEAT_H

#include <stdint.h>

/* Bumped whenever the features change; cached rows with another version are recomputed. */
#define ENG_IMGFEAT_VERSION                                                                        \
	3 /* 2: thumbnail samples at most ~4-7 rows per band; 3: JPEGs decoded                     \
	     at a DCT scale (imgdecode.h), WEBP decoded */

/* The first dimensions of a feature vector: the colour layout grid (cells x mean RGB). */
int eng_imgfeat_grid_dim(void);

/* Side of the square thumbnail the features are computed from: an image decoded smaller than the
 * original needs at least this many pixels on each side (imgdecode.h). */
#define ENG_IMGFEAT_SIDE 32

/* Length of the feature vector. */
int eng_imgfeat_dim(void);

/* rgb is (h, w, 3) row-major uint8; w, h >= 1. Writes eng_imgfeat_dim() floats to out. */
void eng_imgfeat_compute(const uint8_t *rgb, int w, int h, float *out);

/* The gradient-orientation bin (0 .. 7) of gradient (gx, gy), not both 0: floor(a / pi * 8) of
 * its angle a mod pi as atan2 gives it. Exposed for its test. */
int eng_imgfeat_orientation_bin(float gx, float gy);

/* Human-readable name of feature i (static storage), e.g. "grid r[1,2]". */
const char *eng_imgfeat_name(int i);

#endif
