/* stb_resize.c — compiles Debian's stb_image_resize (libstb-dev) into
 * clconv for core/resize.c. Third-party code: built without our warnings
 * (CMakeLists.txt).
 * Nothing of ours belongs in it.
 */
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#include <stb_image_resize.h>
