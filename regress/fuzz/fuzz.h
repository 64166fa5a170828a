/*
 * What every libFuzzer target of regress/fuzz/ shares: the check that an
 * input left no fd open.
 */

#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	LLVMFuzzerInitialize(int *, char ***);

int	fuzz_fds(void);
void	fuzz_begin(void);
void	fuzz_end(void);

#endif /* FUZZ_H */
