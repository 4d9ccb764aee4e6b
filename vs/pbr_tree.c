/* pbr_tree.c - the layout of coop's FIB rules: an entry rule, a radix tree
 * of mark-masked goto rules over the VS marks, one lookup rule per VS, an
 * unreachable catch-all for coop marks and a nop anchor. */
#include <errno.h>
#include <linux/fib_rules.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "vs/pbr.h"

/*
 * Shape of the tree. The kernel walks the rules of a node one after the
 * other, so a node with c children costs (c + 1) / 2 rules on average and
 * a tree over n marks costs about log_c(n) * (c + 1) / 2: that is smallest
 * for c = 3 or 4, so each level splits on two more bits of the mark. A
 * group of at most LEAF_MAX marks gets plain lookup rules, since one more
 * level would cost a goto and save nothing.
 */
#define FANOUT_BITS 2
#define LEAF_MAX 4

/* Where the rules go while the tree is laid out. */
struct builder {
	int family;                      /* AF_INET or AF_INET6 */
	struct coop_pbr_rule *out;       /* rules in walk order */
	size_t n, cap;
	uint32_t next_pref;              /* next free preference */
	int err;                         /* first failure (-ENOMEM) */
};

static struct coop_pbr_rule *emit(struct builder *b)
{
	struct coop_pbr_rule *r;

	if (b->err)
		return NULL;
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 64;
		struct coop_pbr_rule *o = realloc(b->out, cap * sizeof(*o));

		if (!o) {
			b->err = -ENOMEM;
			return NULL;
		}
		b->out = o;
		b->cap = cap;
	}
	r = &b->out[b->n++];
	memset(r, 0, sizeof(*r));
	r->family = (uint8_t)b->family;
	return r;
}

static void emit_lookup(struct builder *b, uint32_t pref, const struct coop_pbr_leaf *l)
{
	struct coop_pbr_rule *r = emit(b);

	if (!r)
		return;
	r->pref = pref;
	r->action = FR_ACT_TO_TBL;
	r->mark = l->mark;
	r->mask = 0xffffffffu;
	r->table = l->table;
}

/* A run of marks sharing the bits above the split. */
struct group {
	size_t lo, n;   /* leaves[lo .. lo + n) */
	uint32_t value; /* their common bits under mask */
};

static int by_size(const void *a, const void *b)
{
	const struct group *x = a, *y = b;

	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return x->value < y->value ? -1 : x->value > y->value;
}

/* Lay out the node for leaves[0..n) (sorted, unique, n >= 1) at the next
 * preference, then its children after it (preorder, so every goto jumps
 * forwards, as the kernel requires). */
static void node(struct builder *b, const struct coop_pbr_leaf *leaves, size_t n)
{
	uint32_t pref = b->next_pref++, diff, mask;
	struct group groups[1u << FANOUT_BITS];
	size_t i, n_groups = 0, first;
	unsigned d, k;

	if (n <= LEAF_MAX) {
		for (i = 0; i < n; i++)
			emit_lookup(b, pref, &leaves[i]);
		return;
	}
	/* Skip the bits every mark here shares (path compression), then
	 * split on the next FANOUT_BITS. Sorted marks differ first where the
	 * smallest and the largest do. */
	diff = leaves[0].mark ^ leaves[n - 1].mark;
	d = (unsigned)__builtin_clz(diff);
	k = d + FANOUT_BITS > 32 ? 32 - d : FANOUT_BITS;
	mask = d + k >= 32 ? 0xffffffffu : ~(0xffffffffu >> (d + k));
	for (i = 0; i < n; i++) {
		uint32_t v = leaves[i].mark & mask;

		if (!n_groups || groups[n_groups - 1].value != v)
			groups[n_groups++] = (struct group){ .lo = i, .n = 0, .value = v };
		groups[n_groups - 1].n++;
	}
	/* The biggest groups first: more VSes find their branch early. */
	coop_sort(groups, n_groups, sizeof(groups[0]), by_size);
	first = b->n;
	for (i = 0; i < n_groups; i++) {
		struct coop_pbr_rule *r;

		if (groups[i].n == 1) {
			emit_lookup(b, pref, &leaves[groups[i].lo]);
			continue;
		}
		r = emit(b);
		if (!r)
			return;
		r->pref = pref;
		r->action = FR_ACT_GOTO;
		r->mark = groups[i].value;
		r->mask = mask;
	}
	/* Children in the same order; each goto learns its target as the
	 * child is laid out. */
	for (i = 0; i < n_groups; i++) {
		if (groups[i].n == 1) {
			first++;
			continue;
		}
		if (b->err)
			return;
		b->out[first++].target = b->next_pref;
		node(b, &leaves[groups[i].lo], groups[i].n);
	}
}

static int by_mark(const void *a, const void *b)
{
	const struct coop_pbr_leaf *x = a, *y = b;

	return x->mark < y->mark ? -1 : x->mark > y->mark;
}

/* The aligned blocks (value/mask) whose union is [lo, hi]: one for an
 * aligned range, at most 62 otherwise. Returns how many. */
static size_t range_blocks(uint32_t lo, uint32_t hi, uint32_t *val, uint32_t *mask)
{
	uint64_t cur = lo, end = (uint64_t)hi + 1;
	size_t n = 0;

	while (cur < end) {
		unsigned k = cur ? (unsigned)__builtin_ctzll(cur) : 32;

		while (k && cur + (1ull << k) > end)
			k--;
		val[n] = (uint32_t)cur;
		mask[n] = k >= 32 ? 0 : ~(uint32_t)((1ull << k) - 1);
		n++;
		cur += 1ull << k;
	}
	return n;
}

int coop_pbr_tree_build(const struct coop_pbr_params *p, int family,
			const struct coop_pbr_leaf *leaves, size_t n,
			struct coop_pbr_rule **out, size_t *n_out, char *err, size_t errlen)
{
	struct builder b = { .family = family, .next_pref = p->priority };
	uint32_t bval[64], bmask[64], entry, unreach, anchor;
	struct coop_pbr_leaf *sorted = NULL;
	struct coop_pbr_rule *r;
	size_t nb, i, entry_end;

	nb = range_blocks(p->mark_lo, p->mark_hi, bval, bmask);
	entry = b.next_pref++;
	/* Entry: packets without a coop mark jump to the anchor (two rules
	 * for them in all); coop marks fall through into the tree. */
	if (nb == 1) {
		r = emit(&b);
		if (r) {
			r->pref = entry;
			r->action = FR_ACT_GOTO;
			r->invert = true;
			r->mark = bval[0];
			r->mask = bmask[0];
		}
	} else {
		for (i = 0; i < nb; i++) {
			r = emit(&b);
			if (!r)
				break;
			r->pref = entry;
			r->action = FR_ACT_GOTO;
			r->mark = bval[i];
			r->mask = bmask[i];
			r->target = entry + 1;
		}
		r = emit(&b);
		if (r) {
			r->pref = entry;
			r->action = FR_ACT_GOTO;
		}
	}
	entry_end = b.n;
	if (n) {
		sorted = malloc(n * sizeof(*sorted));
		if (!sorted) {
			b.err = -ENOMEM;
		} else {
			memcpy(sorted, leaves, n * sizeof(*sorted));
			coop_sort(sorted, n, sizeof(*sorted), by_mark);
			node(&b, sorted, n);
		}
	}
	/* A coop mark no VS holds (a stale socket, a foreign program) must not
	 * reach the main table: that would leak it out of every VS. */
	unreach = b.next_pref++;
	for (i = 0; i < nb; i++) {
		r = emit(&b);
		if (!r)
			break;
		r->pref = unreach;
		r->action = FR_ACT_UNREACHABLE;
		r->mark = bval[i];
		r->mask = bmask[i];
	}
	anchor = b.next_pref++;
	r = emit(&b);
	if (r) {
		r->pref = anchor;
		r->action = FR_ACT_NOP;
	}
	free(sorted);
	if (b.err) {
		free(b.out);
		snprintf(err, errlen, "pbr: out of memory laying out rules");
		return b.err;
	}
	if (anchor > COOP_PBR_PRIORITY_MAX) {
		free(b.out);
		snprintf(err, errlen,
			 "pbr: %zu VSes need rule priorities %u-%u, past the main table's rule (32766); lower pbr_priority",
			 n, p->priority, anchor);
		return -ENOSPC;
	}
	/* The entry's skip target is known only now. */
	for (i = 0; i < entry_end; i++)
		if (b.out[i].action == FR_ACT_GOTO && (b.out[i].invert || !b.out[i].mask))
			b.out[i].target = anchor;
	*out = b.out;
	*n_out = b.n;
	return 0;
}

/* First rule at preference pref, or n. */
static size_t find_pref(const struct coop_pbr_rule *r, size_t n, uint32_t pref)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r[mid].pref < pref)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && r[lo].pref == pref ? lo : n;
}

enum coop_pbr_verdict coop_pbr_tree_eval(const struct coop_pbr_rule *r, size_t n,
					 uint32_t mark, uint32_t *table, unsigned *visited)
{
	size_t i = 0;

	*visited = 0;
	while (i < n) {
		const struct coop_pbr_rule *x = &r[i];
		bool match = !x->mask || !((mark ^ x->mark) & x->mask);
		size_t j;

		(*visited)++;
		if (x->invert)
			match = !match;
		if (!match) {
			i++;
			continue;
		}
		switch (x->action) {
		case FR_ACT_GOTO:
			j = find_pref(r, n, x->target);
			if (x->target <= x->pref || j == n)
				return COOP_PBR_BROKEN;
			i = j;
			break;
		case FR_ACT_NOP:
			i++;
			break;
		case FR_ACT_TO_TBL:
			*table = x->table;
			return COOP_PBR_TABLE;
		case FR_ACT_UNREACHABLE:
			return COOP_PBR_UNREACHABLE;
		default:
			return COOP_PBR_BROKEN;
		}
	}
	return COOP_PBR_PASS;
}
