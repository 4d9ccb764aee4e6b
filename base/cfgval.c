/* cfgval.c - the value parsers every configuration key table shares. */
#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Decimal, or hexadecimal after 0x when hex_ok; digits only (strtoul would
 * also take blanks, a sign, and a second 0x). */
int coop_cfg_u32(const char *s, bool hex_ok, uint32_t *out)
{
	unsigned base = 10, d;
	uint64_t v = 0;

	if (hex_ok && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (isdigit((unsigned char)*s))
			d = (unsigned)(*s - '0');
		else if (base == 16 && isxdigit((unsigned char)*s))
			d = (unsigned)(tolower((unsigned char)*s) - 'a' + 10);
		else
			return -EINVAL;
		v = v * base + d;
		if (v > UINT32_MAX)
			return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
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

