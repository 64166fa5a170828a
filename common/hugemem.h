/* Large buffers backed by huge pages where the kernel has them: hugemem.c. */

#ifndef SECURER_HUGEMEM_H
#define SECURER_HUGEMEM_H

#include <stddef.h>

void	hugemem_advise(void *, size_t);

#endif /* SECURER_HUGEMEM_H */
