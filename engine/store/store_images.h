/* store_images.h - what the reports show of a stored image: its content hash and where it was
 * first read from.
 *
 * Does not decode, hash or store images (engine/ingest/images.c does). */
#ifndef ENG_STORE_IMAGES_H
#define ENG_STORE_IMAGES_H

#include <stdint.h>

#include "err.h"
#include "workspace.h"

/* The sha256 and source of image id: *sha256 and *source malloc'd (the caller frees both; "" for
 * a NULL column). An image that does not exist is an error ("read images: ..."). Returns 0 or a
 * negative ENG_E* code with *sha256 = *source = NULL. */
int eng_image_names(eng_ws *ws, int64_t id, char **sha256, char **source, eng_err *err);

#endif
