/* DESIGN.md's tables, from the code: tables.c. */

#ifndef TABLES_H
#define TABLES_H

#include <stdio.h>

void	tables_markdown(FILE *);

#endif /* TABLES_H */
