/* cfgval.h - value parsers shared by the key tables of every configuration
 * section (core/config.c and the modules' own tables). Any thread. */
#ifndef COOP_BASE_CFGVAL_H
#define COOP_BASE_CFGVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Value parsers shared by the key tables of every section (core/config.c,
 * fwd/xdp_config.c, resolver/conf.c). Each failing parser writes why it
 * failed into why (whylen bytes) and returns a negative errno.
 */
/* Write the reason into why; returns ret. */
int __attribute__((format(printf, 4, 5)))
coop_cfg_why(char *why, size_t whylen, int ret, const char *fmt, ...);
/* Decimal digits only, or hexadecimal after 0x when hex_ok; 0 or -EINVAL. */
int coop_cfg_u32(const char *s, bool hex_ok, uint32_t *out);
/* The same in base 10, 16 (decimal, or hexadecimal after 0x) or 8 (octal
 * digits only); 0 or -EINVAL. */
int coop_cfg_u32_base(const char *s, unsigned base, uint32_t *out);
/* 1..max-1 bytes of a-z 0-9 (A-Z too when upper) and the characters in
 * extra, not "." or "..": names that end up in paths, commands or JSON. */
bool coop_cfg_name_ok(const char *s, size_t max, bool upper, const char *extra);
/* The kernel's rule for link names (dev_valid_name). */
bool coop_cfg_ifname_ok(const char *s);
/* Trim in place; returns the first non-blank character. */
char *coop_cfg_strip(char *s);
/* Entry i of n of a comma-separated list (trimmed, writable). */
typedef int (*coop_cfg_entry_fn)(void *obj, size_t i, size_t n, char *e, char *why,
				 size_t whylen);
/* Run fn over the comma-separated entries of val, stopping at the first
 * error; an empty entry is an error (a stray comma is more often a lost
 * value than a style). */
int coop_cfg_list_each(const char *val, void *obj, coop_cfg_entry_fn fn, char *why,
		       size_t whylen);

/* A name, a number, and where they are: what the whole-file checks sort to
 * find two sections, namespaces, links, marks... that must differ. */
struct coop_cfg_dup {
	const char *s; /* compared first */
	uint64_t v;    /* then this */
	size_t idx;    /* position in file order (section or VS index) */
};
/* Sort items by (s, v, idx) and find two with equal (s, v). Of all such
 * pairs, report the one whose later member comes first in the file: that
 * is where an operator reading top-down meets the conflict. *a < *b are
 * their idx. Leaves items sorted. */
bool coop_cfg_dup_find(struct coop_cfg_dup *items, size_t n, size_t *a, size_t *b);
/* bsearch() comparator: a name (key) against the items of an array
 * coop_cfg_dup_find() sorted. */
int coop_cfg_dup_name_cmp(const void *key, const void *item);

#endif
