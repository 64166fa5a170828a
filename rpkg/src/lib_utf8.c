/* utf8.c of the source tree, compiled into the package. */
#include "../../common/utf8.c"
