/* encode.c of the source tree, compiled into the package. */
#include "../../worker/encode.c"
