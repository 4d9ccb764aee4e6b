/* cfgval.c - the value parsers every configuration key table shares. */
#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "base/cfgval.h"

int __attribute__((format(printf, 4, 5)))
coop_cfg_why(char *why, size_t whylen, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return ret;
}

/* Decimal, hexadecimal after 0x (base 16) or octal (base 8); digits only
 * (strtoul would also take blanks, a sign, and a second 0x). */
int coop_cfg_u32_base(const char *s, unsigned base, uint32_t *out)
{
	unsigned radix = base == 8 ? 8 : 10, d;
	uint64_t v = 0;

	if (base == 16 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		radix = 16;
		s += 2;
	}
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (isdigit((unsigned char)*s))
			d = (unsigned)(*s - '0');
		else if (radix == 16 && isxdigit((unsigned char)*s))
			d = (unsigned)(tolower((unsigned char)*s) - 'a' + 10);
		else
			return -EINVAL;
		if (d >= radix)
			return -EINVAL;
		v = v * radix + d;
		if (v > UINT32_MAX)
			return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

int coop_cfg_u32(const char *s, bool hex_ok, uint32_t *out)
{
	return coop_cfg_u32_base(s, hex_ok ? 16 : 10, out);
}

/* 1..max-1 bytes of a-z 0-9 (A-Z too when upper) and the characters in
 * extra, not "." or "..": VS, namespace and service names, all of which end
 * up in paths, shell commands or JSON. */
bool coop_cfg_name_ok(const char *s, size_t max, bool upper, const char *extra)
{
	size_t n = strlen(s), i;

	if (n == 0 || n >= max || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!islower(c) && !isdigit(c) && !(upper && isupper(c)) && !strchr(extra, c))
			return false;
	}
	return true;
}

/* The kernel's rule for link names (dev_valid_name). */
bool coop_cfg_ifname_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n >= IF_NAMESIZE || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (i = 0; i < n; i++)
		if (s[i] == '/' || s[i] == ':' || !isgraph((unsigned char)s[i]))
			return false;
	return true;
}

/* Trim in place; returns the first non-blank character. */
char *coop_cfg_strip(char *s)
{
	size_t n;

	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Entry callbacks allocate room for all n entries on the call for entry 0. */
int coop_cfg_list_each(const char *val, void *obj, coop_cfg_entry_fn fn, char *why,
		     size_t whylen)
{
	char *buf = strdup(val), *p, *next;
	size_t n = 1, i;
	const char *c;
	int ret = 0;

	if (!buf)
		return coop_cfg_why(why, whylen, -ENOMEM, "out of memory");
	for (c = val; *c; c++)
		n += *c == ',';
	for (p = buf, i = 0; p && !ret; p = next, i++) {
		next = strchr(p, ',');
		if (next)
			*next++ = '\0';
		p = coop_cfg_strip(p);
		if (!*p)
			ret = coop_cfg_why(why, whylen, -EINVAL, "empty entry in the list '%s'", val);
		else
			ret = fn(obj, i, n, p, why, whylen);
	}
	free(buf);
	return ret;
}


static int dup_cmp(const void *a, const void *b)
{
	const struct coop_cfg_dup *x = a, *y = b;
	int c = strcmp(x->s, y->s);

	if (c)
		return c;
	if (x->v != y->v)
		return x->v < y->v ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

int coop_cfg_dup_name_cmp(const void *key, const void *item)
{
	return strcmp(key, ((const struct coop_cfg_dup *)item)->s);
}

bool coop_cfg_dup_find(struct coop_cfg_dup *items, size_t n, size_t *a, size_t *b)
{
	bool found = false;
	size_t i;

	*a = *b = 0;
	if (!n)
		return false;
	coop_sort(items, n, sizeof(*items), dup_cmp);
	for (i = 1; i < n; i++) {
		if (strcmp(items[i - 1].s, items[i].s) || items[i - 1].v != items[i].v)
			continue;
		if (!found || items[i].idx < *b) {
			*a = items[i - 1].idx;
			*b = items[i].idx;
			found = true;
		}
	}
	return found;
}
