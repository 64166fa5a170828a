/* base64.c of the source tree, compiled into the package. */
#include "../../common/base64.c"
