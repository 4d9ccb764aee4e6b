/* netns_config.c - the netns backend's configuration rules: a netns VS's
 * own section (its namespace by default, no @IFNAME), and what it owns
 * across the file (its namespace, the link it moves in, which must exist). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cfgval.h"
#include "vs/netns_config.h"

/* A netns VS lives in the namespace of its name unless it names one. */
static void complete_vs(void *obj)
{
	struct coop_vs_cfg *vs = obj;

	if (!vs->netns[0])
		snprintf(vs->netns, sizeof(vs->netns), "%s", vs->name);
}

static int check_vs(const void *obj, bool links, const char **key, char *why, size_t whylen)
{
	const struct coop_vs_cfg *vs = obj;
	char a[INET6_ADDRSTRLEN];
	size_t i;

	(void)links;
	*key = NULL;
	for (i = 0; i < vs->n_addrs; i++) {
		const struct coop_prefix *p = &vs->addrs[i];

		if (!p->ifname[0])
			continue;
		*key = "addresses";
		return coop_cfg_why(why, whylen, -EINVAL,
				    "'%s/%u@%s': @IFNAME is only for isolation = pbr; a netns VS's addresses go on its namespace's links",
				    coop_addr_str(&p->addr, a, sizeof(a)), p->len, p->ifname);
	}
	return 0;
}

/* A VS in coopd's namespace using a link that a netns VS moves out of it:
 * the entry of that netns VS (and *key the key naming the link), or NULL.
 * ifs is sorted. */
static const struct coop_cfg_dup *link_taken(const struct coop_vs_cfg *vs,
					     const struct coop_cfg_dup *ifs, size_t n_ifs,
					     const char **key)
{
	const struct coop_cfg_dup *hit = NULL;
	size_t j;

	*key = "interface";
	if (vs->ifname[0])
		hit = bsearch(vs->ifname, ifs, n_ifs, sizeof(*ifs), coop_cfg_dup_name_cmp);
	for (j = 0; j < vs->n_addrs && !hit; j++) {
		*key = "addresses";
		if (vs->addrs[j].ifname[0])
			hit = bsearch(vs->addrs[j].ifname, ifs, n_ifs, sizeof(*ifs),
				      coop_cfg_dup_name_cmp);
	}
	return hit;
}

/* What no other VS may claim, given the sorted namespaces and interfaces
 * of the netns VSes. */
static int check_others(const struct coop_config *cfg, const struct coop_cfg_dup *ns,
			size_t n_ns, const struct coop_cfg_dup *ifs, size_t n_ifs,
			struct coop_cfg_err *e)
{
	const struct coop_cfg_dup *hit;
	const char *key;
	size_t i;

	for (i = 0; i < cfg->n_vs; i++) {
		const struct coop_vs_cfg *vs = &cfg->vs[i];

		if (vs->isolation == COOP_ISO_NETNS)
			continue;
		if (vs->netns[0]) {
			hit = bsearch(vs->netns, ns, n_ns, sizeof(*ns), coop_cfg_dup_name_cmp);
			if (hit)
				return coop_cfg_err_vs(e, vs, "namespace",
						       "'%s' is owned by netns VS '%s'; no other VS may live in it",
						       vs->netns, cfg->vs[hit->idx].name);
			continue;
		}
		hit = link_taken(vs, ifs, n_ifs, &key);
		if (hit)
			return coop_cfg_err_vs(e, vs, key,
					       "link '%s' is moved into the namespace of netns VS '%s'",
					       cfg->vs[hit->idx].ifname, cfg->vs[hit->idx].name);
	}
	return 0;
}

/* A netns VS owns its namespace (and moves its interface there): nobody
 * else may claim either. */
static int check_owners(const struct coop_config *cfg, struct coop_cfg_err *e)
{
	size_t i, n_ns = 0, n_ifs = 0, a, b;
	struct coop_cfg_dup *ns, *ifs;
	int ret = 0;

	ns = calloc(cfg->n_vs + 1, sizeof(*ns));
	ifs = calloc(cfg->n_vs + 1, sizeof(*ifs));
	if (!ns || !ifs) {
		ret = coop_cfg_err_set(e, -ENOMEM, NULL, NULL, "out of memory");
		goto out_free;
	}
	for (i = 0; i < cfg->n_vs; i++) {
		const struct coop_vs_cfg *vs = &cfg->vs[i];

		if (vs->isolation != COOP_ISO_NETNS)
			continue;
		ns[n_ns++] = (struct coop_cfg_dup){ .s = vs->netns, .idx = i };
		if (vs->ifname[0])
			ifs[n_ifs++] = (struct coop_cfg_dup){ .s = vs->ifname, .idx = i };
	}
	if (coop_cfg_dup_find(ns, n_ns, &a, &b)) {
		/* Blame the one that named the namespace explicitly: the other
		 * may be using its default, its own name. */
		if (!strcmp(cfg->vs[b].netns, cfg->vs[b].name)) {
			size_t t = a;

			a = b;
			b = t;
		}
		ret = coop_cfg_err_vs(e, &cfg->vs[b], "namespace",
				      "'%s' is also the namespace of netns VS '%s'; netns VSes cannot share a namespace (pbr VSes can)",
				      cfg->vs[b].netns, cfg->vs[a].name);
		goto out_free;
	}
	if (coop_cfg_dup_find(ifs, n_ifs, &a, &b)) {
		ret = coop_cfg_err_vs(e, &cfg->vs[b], "interface",
				      "'%s' is also the interface of netns VS '%s'; a link moves into one namespace only",
				      cfg->vs[b].ifname, cfg->vs[a].name);
		goto out_free;
	}
	/* coop_cfg_dup_find() left both arrays sorted. */
	ret = check_others(cfg, ns, n_ns, ifs, n_ifs, e);
out_free:
	free(ns);
	free(ifs);
	return ret;
}

/* A netns VS's interface is in coopd's namespace (to be moved) or already
 * inside the VS's (a restart after it was moved). */
static int check_links(const struct coop_config *cfg, struct coop_cfg_err *e)
{
	char why[256];
	size_t i;

	for (i = 0; i < cfg->n_vs; i++) {
		const struct coop_vs_cfg *vs = &cfg->vs[i];

		if (vs->isolation == COOP_ISO_NETNS && vs->ifname[0] &&
		    coop_cfg_link_find(vs->netns, true, vs->ifname, why, sizeof(why)) < 0)
			return coop_cfg_err_vs(e, vs, "interface", "%s", why);
	}
	return 0;
}

static int check_cfg(const struct coop_config *cfg, bool links, struct coop_cfg_err *e)
{
	int ret = check_owners(cfg, e);

	if (ret < 0 || !links)
		return ret;
	return check_links(cfg, e);
}

const struct coop_cfg_keytab coop_netns_keytabs[1] = {
	{ .section = "vs", .iso = "netns", .iso_id = COOP_ISO_NETNS, .complete = complete_vs,
	  .check = check_vs, .check_cfg = check_cfg },
};
