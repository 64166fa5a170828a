/*
 * securer-bench: shared declarations.
 */

#ifndef SECURER_BENCH_H
#define SECURER_BENCH_H

/* rserve.c */
int	rserve_start(const char *);
void	rserve_stop(void);
int	rserve_connect(void);
int	rserve_eval(int, const char *);

#endif /* SECURER_BENCH_H */
