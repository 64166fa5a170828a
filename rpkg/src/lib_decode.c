/* decode.c of the source tree, compiled into the package. */
#include "../../worker/decode.c"
