/* make tables: DESIGN.md's tables, from the code (tables.c). */

#include <stdio.h>

#include "tables.h"

int
main(void)
{
	tables_markdown(stdout);
	return (0);
}
