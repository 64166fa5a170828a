/* libsecurer.c of the source tree, compiled into the package. */
#include "../../client/libsecurer.c"
