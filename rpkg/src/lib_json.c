/* json.c of the source tree, compiled into the package. */
#include "../../common/json.c"
