/*
 * The securer command and its MCP server ask for vectors in binary form
 * (securer-protocol(7) "Values": "bin", the base64 of their bytes,
 * little-endian), which is exact and a third of the size; what they
 * print or hand to a tool's command is the plain "value" array again,
 * rebuilt here, in place, in every value of a tree.
 */

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "cmd.h"

#define item(o, name)	cJSON_GetObjectItemCaseSensitive((o), (name))
#define R_NA_INT	INT32_MIN

static uint32_t	 le32(const unsigned char *);
static double	 le_double(const unsigned char *);
static cJSON	*plain_double(double);
static cJSON	*unbin_array(const char *, const unsigned char *, size_t);
static int	 unbin_one(cJSON *);

static uint32_t
le32(const unsigned char *p)
{
	return ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24);
}

static double
le_double(const unsigned char *p)
{
	uint64_t	u = (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
	double		d;

	memcpy(&d, &u, sizeof(d));
	return (d);
}

/* A double as "value" has it: R's NA is null (its payload is 1954). */
static cJSON *
plain_double(double d)
{
	uint64_t	u;

	memcpy(&u, &d, sizeof(u));
	if (isnan(d))
		return (cj_must((u & 0xffffffffU) == 1954 ? cJSON_CreateNull() :
		    cJSON_CreateString("NaN")));
	if (isinf(d))
		return (cj_must(cJSON_CreateString(d > 0 ? "Inf" : "-Inf")));
	return (cj_must(cJSON_CreateNumber(d)));
}

/* NULL: not a binary type, a length not whole elements, a bad logical. */
static cJSON *
unbin_array(const char *type, const unsigned char *p, size_t n)
{
	cJSON		*a, *pair;
	size_t		 size, i;
	int32_t		 v;

	size = strcmp(type, "double") == 0 ? 8 : strcmp(type, "complex") == 0 ?
	    16 : strcmp(type, "integer") == 0 || strcmp(type, "logical") == 0 ?
	    4 : 0;
	if (size == 0 || n % size != 0)
		return (NULL);
	a = cj_must(cJSON_CreateArray());
	for (i = 0; i < n; i += size) {
		if (size == 8)
			cJSON_AddItemToArray(a, plain_double(le_double(p + i)));
		else if (size == 16) {
			if (isnan(le_double(p + i)) && isnan(le_double(p + i + 8)) &&
			    cJSON_IsNull(pair = plain_double(le_double(p + i)))) {
				cJSON_AddItemToArray(a, pair);
				continue;
			}
			pair = cj_must(cJSON_CreateArray());
			cJSON_AddItemToArray(pair, plain_double(le_double(p + i)));
			cJSON_AddItemToArray(pair,
			    plain_double(le_double(p + i + 8)));
			cJSON_AddItemToArray(a, pair);
		} else if ((v = (int32_t)le32(p + i)) == R_NA_INT)
			cJSON_AddItemToArray(a, cj_must(cJSON_CreateNull()));
		else if (strcmp(type, "integer") == 0)
			cJSON_AddItemToArray(a, cj_must(cJSON_CreateNumber(v)));
		else if (v == 0 || v == 1)
			cJSON_AddItemToArray(a, cj_must(cJSON_CreateBool(v)));
		else {
			cJSON_Delete(a);
			return (NULL);
		}
	}
	return (a);
}

/* v's "bin" as its "value"; -1 if it is not a valid binary form. */
static int
unbin_one(cJSON *v)
{
	const cJSON	*type = item(v, "type");
	cJSON		*bin = item(v, "bin"), *arr;
	unsigned char	*bytes;
	ssize_t		 n;
	size_t		 len;

	if (!cJSON_IsString(type) || !cJSON_IsString(bin) ||
	    item(v, "value") != NULL)
		return (-1);
	len = strlen(bin->valuestring);
	if ((n = base64_decoded_len(bin->valuestring, len)) == -1 ||
	    (bytes = malloc(n + 1)) == NULL)
		return (-1);
	if (base64_decode_to(bytes, bin->valuestring, len) == -1) {
		free(bytes);
		return (-1);
	}
	arr = unbin_array(type->valuestring, bytes, n);
	free(bytes);
	if (arr == NULL)
		return (-1);
	cJSON_DeleteItemFromObjectCaseSensitive(v, "bin");
	cJSON_AddItemToObject(v, "value", arr);
	return (0);
}

/*
 * Every binary vector of the tree v as a plain one, in place: its
 * values, attributes and list elements; -1 if one is not valid.
 */
int
value_unbin(cJSON *v)
{
	cJSON	*c;

	if (v == NULL)
		return (0);
	if (cJSON_IsObject(v) && item(v, "bin") != NULL &&
	    unbin_one(v) == -1)
		return (-1);
	for (c = v->child; c != NULL; c = c->next)
		if ((cJSON_IsObject(c) || cJSON_IsArray(c)) &&
		    value_unbin(c) == -1)
			return (-1);
	return (0);
}
