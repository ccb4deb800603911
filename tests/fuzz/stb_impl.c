/* stb_impl.c - fuzz builds only: compiles stb_image/resize/write from the system headers into the
 * fuzz executables, so the decoder is instrumented (coverage, ASan) instead of the uninstrumented
 * libstb.so. The executable's definitions take precedence over the shared library's. */
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image.h>
#include <stb_image_resize.h>
#include <stb_image_write.h>
