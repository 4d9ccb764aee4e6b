/* pbr_alloc.c - the [global] pbr_* settings and the stable assignment of
 * marks and routing tables to pbr VSes (hash of the name, linear probing). */
#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "vs/pbr.h"

void coop_pbr_params_default(struct coop_pbr_params *p)
{
	p->mark_lo = COOP_PBR_MARK_LO;
	p->mark_hi = COOP_PBR_MARK_HI;
	p->table_lo = COOP_PBR_TABLE_LO;
	p->table_hi = COOP_PBR_TABLE_HI;
	p->protocol = COOP_PBR_PROTOCOL;
	p->priority = COOP_PBR_PRIORITY;
}

static bool table_reserved(uint32_t t)
{
	return t == RT_TABLE_UNSPEC || t == RT_TABLE_DEFAULT || t == RT_TABLE_MAIN ||
	       t == RT_TABLE_LOCAL;
}

int coop_pbr_params_check(const struct coop_pbr_params *p, char *err, size_t errlen)
{
	uint64_t usable;

	if (!p->mark_lo || p->mark_lo > p->mark_hi) {
		snprintf(err, errlen,
			 "pbr_marks: %#x-%#x is not a range LOW-HIGH with 1 <= LOW <= HIGH (0 is the mark of unmarked traffic)",
			 p->mark_lo, p->mark_hi);
		return -EINVAL;
	}
	if (!p->table_lo || p->table_lo > p->table_hi) {
		snprintf(err, errlen, "pbr_tables: %u-%u is not a range LOW-HIGH with 1 <= LOW <= HIGH",
			 p->table_lo, p->table_hi);
		return -EINVAL;
	}
	usable = (uint64_t)p->table_hi - p->table_lo + 1;
	for (uint32_t t = RT_TABLE_DEFAULT; t <= RT_TABLE_LOCAL; t++)
		if (t >= p->table_lo && t <= p->table_hi)
			usable--;
	if (!usable) {
		snprintf(err, errlen,
			 "pbr_tables: %u-%u holds only the kernel's tables (253 default, 254 main, 255 local)",
			 p->table_lo, p->table_hi);
		return -EINVAL;
	}
	/* 0..4 are the kernel's own (unspec, redirect, kernel, boot, static):
	 * `ip route add` writes 3 or 4, so coop could not tell its state. */
	if (p->protocol < 5 || p->protocol > 255) {
		snprintf(err, errlen,
			 "pbr_protocol: %u is not usable; give 5..255 (0..4 are the kernel's own)",
			 p->protocol);
		return -EINVAL;
	}
	if (!p->priority || p->priority + 2 > COOP_PBR_PRIORITY_MAX) {
		snprintf(err, errlen,
			 "pbr_priority: %u leaves no room before the main table's rule (32766); give 1..%u",
			 p->priority, COOP_PBR_PRIORITY_MAX - 2);
		return -EINVAL;
	}
	return 0;
}

/* A set of 32-bit values: open addressing, 0 marks a free cell (neither
 * marks nor tables coop hands out are ever 0). */
struct u32set {
	uint32_t *cell; /* power-of-two array */
	size_t mask;    /* size - 1 */
	size_t used;    /* values held */
};

static int set_init(struct u32set *s, size_t want)
{
	size_t size = 64;

	while (size < 2 * want)
		size <<= 1;
	s->cell = calloc(size, sizeof(*s->cell));
	if (!s->cell)
		return -ENOMEM;
	s->mask = size - 1;
	s->used = 0;
	return 0;
}

static size_t set_slot(uint32_t v)
{
	/* Knuth's multiplicative hash: consecutive values spread out. */
	return (size_t)(v * 2654435761u);
}

static bool set_has(const struct u32set *s, uint32_t v)
{
	size_t i;

	for (i = set_slot(v) & s->mask; s->cell[i]; i = (i + 1) & s->mask)
		if (s->cell[i] == v)
			return true;
	return false;
}

/* Capacity was reserved by set_init, so the table never fills. */
static void set_add(struct u32set *s, uint32_t v)
{
	size_t i;

	for (i = set_slot(v) & s->mask; s->cell[i]; i = (i + 1) & s->mask)
		if (s->cell[i] == v)
			return;
	s->cell[i] = v;
	s->used++;
}

/* FNV-1a of the name, salted so that marks and tables do not move in
 * lockstep (a clash in one range need not be a clash in the other). */
static uint32_t name_hash(const char *name, uint32_t salt)
{
	return coop_fnv32(COOP_FNV32_INIT ^ salt, name, strlen(name));
}

/* Order of slot indices by name: the probing order. */
static int by_name(const void *a, const void *b, void *slots)
{
	const struct coop_pbr_slot *s = slots;

	return strcmp(s[*(const size_t *)a].name, s[*(const size_t *)b].name);
}

/* Probe from the name's hash for a value in [lo, hi] not in used (and not
 * a kernel table when tables). 0 when the range is full. */
static uint32_t probe(const char *name, uint32_t salt, uint32_t lo, uint32_t hi, bool tables,
		      const struct u32set *used)
{
	uint64_t size = (uint64_t)hi - lo + 1, i;
	uint32_t v = lo + (uint32_t)(name_hash(name, salt) % size);

	for (i = 0; i < size; i++) {
		if (!set_has(used, v) && !(tables && table_reserved(v)))
			return v;
		v = v == hi ? lo : v + 1;
	}
	return 0;
}

int coop_pbr_alloc(const struct coop_pbr_params *p, struct coop_pbr_slot *slots, size_t n,
		   const uint32_t *busy, size_t n_busy, char *err, size_t errlen)
{
	struct u32set marks, tables;
	size_t *order, i;
	int ret;

	for (i = 0; i < n; i++) {
		const struct coop_pbr_slot *s = &slots[i];

		if (s->want_mark && (s->want_mark < p->mark_lo || s->want_mark > p->mark_hi)) {
			snprintf(err, errlen, "vs '%s': mark %#x is outside pbr_marks %#x-%#x",
				 s->name, s->want_mark, p->mark_lo, p->mark_hi);
			return -EINVAL;
		}
		if (s->want_table && (s->want_table < p->table_lo || s->want_table > p->table_hi)) {
			snprintf(err, errlen, "vs '%s': table %u is outside pbr_tables %u-%u",
				 s->name, s->want_table, p->table_lo, p->table_hi);
			return -EINVAL;
		}
		if (s->want_table && table_reserved(s->want_table)) {
			snprintf(err, errlen, "vs '%s': table %u is one of the kernel's", s->name,
				 s->want_table);
			return -EINVAL;
		}
	}
	ret = -ENOMEM;
	order = calloc(n + 1, sizeof(*order));
	if (!order)
		goto err_msg;
	if (set_init(&marks, n) < 0)
		goto err_free_order;
	if (set_init(&tables, n + n_busy) < 0)
		goto err_free_marks;
	for (i = 0; i < n_busy; i++)
		set_add(&tables, busy[i]);
	for (i = 0; i < n; i++) {
		order[i] = i;
		if (slots[i].want_mark)
			set_add(&marks, slots[i].want_mark);
		if (slots[i].want_table)
			set_add(&tables, slots[i].want_table);
	}
	qsort_r(order, n, sizeof(*order), by_name, slots);
	for (i = 0; i < n; i++) {
		struct coop_pbr_slot *s = &slots[order[i]];

		s->mark = s->want_mark;
		s->table = s->want_table;
		if (!s->mark) {
			s->mark = probe(s->name, 0x6d61726b, p->mark_lo, p->mark_hi, false, &marks);
			if (!s->mark) {
				snprintf(err, errlen,
					 "vs '%s': no free mark left in pbr_marks %#x-%#x; widen it",
					 s->name, p->mark_lo, p->mark_hi);
				ret = -ENOSPC;
				goto err_free_tables;
			}
			set_add(&marks, s->mark);
		}
		if (!s->table) {
			s->table = probe(s->name, 0x7461626c, p->table_lo, p->table_hi, true, &tables);
			if (!s->table) {
				snprintf(err, errlen,
					 "vs '%s': no free table left in pbr_tables %u-%u; widen it",
					 s->name, p->table_lo, p->table_hi);
				ret = -ENOSPC;
				goto err_free_tables;
			}
			set_add(&tables, s->table);
		}
	}
	ret = 0;
err_free_tables:
	free(tables.cell);
err_free_marks:
	free(marks.cell);
err_free_order:
	free(order);
	if (ret != -ENOMEM)
		return ret;
err_msg:
	snprintf(err, errlen, "pbr: out of memory assigning marks and tables");
	return -ENOMEM;
}
