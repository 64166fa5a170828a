/* resolve.c of the source tree, compiled into the package. */
#include "../../client/resolve.c"
