/* hosts.c - a VS's own hosts file, parsed by coop (c-ares 1.18 can only read
 * the host's /etc/hosts, which a VS must never see): name -> addresses and
 * address -> name tables, immutable once loaded. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/hash.h"
#include "resolver/resolver_priv.h"

#define HOSTS_FILE_MAX (16u << 20) /* bytes: a hosts file, not a zone */
#define HOSTS_LINE_MAX 4096	   /* bytes of one line */
#define HOSTS_NONE     UINT32_MAX  /* end of a chain */

/* One (address, name) pair; a line with aliases gives several. */
struct hosts_ent {
	struct coop_resolver_addr addr; /* the line's address */
	const char *name;		/* this name, lower-cased, no final dot */
	const char *canonical;		/* the line's first name as written */
	uint32_t next_name;		/* next entry in its name bucket */
	uint32_t next_addr;		/* next entry in its address bucket */
};

struct res_hosts {
	struct hosts_ent *ents;	  /* in file order */
	size_t n, cap;		  /* used / allocated */
	uint32_t *by_name;	  /* bucket heads (index into ents) */
	uint32_t *by_addr;	  /* bucket heads */
	size_t nbuckets;	  /* power of two */
	struct res_arena strings; /* names */
};

static uint64_t fnv(const void *p, size_t n)
{
	uint64_t h = coop_fnv64(COOP_FNV64_INIT, p, n);

	return h ^ (h >> 29);
}

static uint64_t name_hash(const char *lname)
{
	return fnv(lname, strlen(lname));
}

static uint64_t addr_hash(const struct coop_resolver_addr *a)
{
	return a->family == AF_INET ? fnv(&a->v4, 4) : fnv(&a->v6, 16);
}

static bool addr_eq(const struct coop_resolver_addr *a, const struct coop_resolver_addr *b)
{
	if (a->family != b->family)
		return false;
	return a->family == AF_INET ? !memcmp(&a->v4, &b->v4, 4) : !memcmp(&a->v6, &b->v6, 16);
}

/* Lower-case a name and drop one final dot. */
static void name_key(const char *in, char *out, size_t len)
{
	size_t i;

	for (i = 0; in[i] && i + 1 < len; i++)
		out[i] = (in[i] >= 'A' && in[i] <= 'Z') ? (char)(in[i] - 'A' + 'a') : in[i];
	if (i && out[i - 1] == '.')
		i--;
	out[i] = '\0';
}

static int add(struct res_hosts *h, const struct coop_resolver_addr *a, const char *name,
	       const char *canonical)
{
	char key[COOP_RESOLVER_NAME_MAX];
	struct hosts_ent *e;

	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;

		e = realloc(h->ents, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		h->ents = e;
		h->cap = cap;
	}
	name_key(name, key, sizeof(key));
	e = &h->ents[h->n];
	e->addr = *a;
	e->name = res_arena_strdup(&h->strings, key);
	e->canonical = canonical;
	if (!e->name)
		return -ENOMEM;
	h->n++;
	return 0;
}

static int index_all(struct res_hosts *h)
{
	size_t i;

	h->nbuckets = 16;
	while (h->nbuckets < h->n)
		h->nbuckets <<= 1;
	h->by_name = malloc(h->nbuckets * sizeof(*h->by_name));
	h->by_addr = malloc(h->nbuckets * sizeof(*h->by_addr));
	if (!h->by_name || !h->by_addr)
		return -ENOMEM;
	memset(h->by_name, 0xff, h->nbuckets * sizeof(*h->by_name));
	memset(h->by_addr, 0xff, h->nbuckets * sizeof(*h->by_addr));
	/* From the end, so each chain lists entries in file order. */
	for (i = h->n; i-- > 0;) {
		struct hosts_ent *e = &h->ents[i];
		size_t bn = name_hash(e->name) & (h->nbuckets - 1);
		size_t ba = addr_hash(&e->addr) & (h->nbuckets - 1);

		e->next_name = h->by_name[bn];
		h->by_name[bn] = (uint32_t)i;
		e->next_addr = h->by_addr[ba];
		h->by_addr[ba] = (uint32_t)i;
	}
	return 0;
}

/* Parse one line (comment already cut). 0, or -EINVAL with the problem in msg. */
static int parse_line(struct res_hosts *h, char *line, char *msg, size_t msglen)
{
	struct coop_resolver_addr a;
	char *save = NULL, *tok, *canonical = NULL;
	int ret;

	tok = strtok_r(line, " \t\r\n", &save);
	if (!tok)
		return 0;
	memset(&a, 0, sizeof(a));
	if (inet_pton(AF_INET, tok, &a.v4) == 1) {
		a.family = AF_INET;
	} else if (inet_pton(AF_INET6, tok, &a.v6) == 1) {
		a.family = AF_INET6;
	} else {
		snprintf(msg, msglen, "'%.64s' is not an IPv4 or IPv6 address", tok);
		return -EINVAL;
	}
	while ((tok = strtok_r(NULL, " \t\r\n", &save))) {
		if (!res_name_valid(tok)) {
			snprintf(msg, msglen, "'%.64s' is not a valid host name", tok);
			return -EINVAL;
		}
		if (!canonical) {
			size_t n = strlen(tok);

			canonical = res_arena_strdup(&h->strings, tok);
			if (!canonical)
				return -ENOMEM;
			if (n > 1 && canonical[n - 1] == '.')
				canonical[n - 1] = '\0';
		}
		ret = add(h, &a, tok, canonical);
		if (ret < 0)
			return ret;
	}
	if (!canonical) {
		snprintf(msg, msglen, "address without a name");
		return -EINVAL;
	}
	return 0;
}

int res_hosts_load(const char *path, struct res_hosts **out, char *err, size_t errlen)
{
	char line[HOSTS_LINE_MAX + 2], msg[160];
	struct res_hosts *h;
	unsigned lineno = 0;
	struct stat st;
	FILE *f;
	int ret = 0;

	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		snprintf(err, errlen, "hosts_file %s: %s", path, strerror(errno));
		return ret;
	}
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > HOSTS_FILE_MAX) {
		snprintf(err, errlen, "hosts_file %s: not a regular file of at most %u bytes", path,
			 HOSTS_FILE_MAX);
		fclose(f);
		return -EINVAL;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		fclose(f);
		snprintf(err, errlen, "hosts_file %s: out of memory", path);
		return -ENOMEM;
	}
	while (fgets(line, sizeof(line), f)) {
		size_t n = strlen(line);
		char *hash;

		lineno++;
		if (n && line[n - 1] != '\n' && !feof(f)) {
			snprintf(err, errlen, "hosts_file %s: line %u: longer than %d bytes", path,
				 lineno, HOSTS_LINE_MAX);
			ret = -EINVAL;
			goto err_free;
		}
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		ret = parse_line(h, line, msg, sizeof(msg));
		if (ret == -ENOMEM) {
			snprintf(err, errlen, "hosts_file %s: out of memory", path);
			goto err_free;
		}
		if (ret < 0) {
			snprintf(err, errlen, "hosts_file %s: line %u: %s", path, lineno, msg);
			goto err_free;
		}
	}
	if (ferror(f)) {
		ret = -EIO;
		snprintf(err, errlen, "hosts_file %s: read error", path);
		goto err_free;
	}
	ret = index_all(h);
	if (ret < 0) {
		snprintf(err, errlen, "hosts_file %s: out of memory", path);
		goto err_free;
	}
	fclose(f);
	*out = h;
	return 0;

err_free:
	fclose(f);
	res_hosts_free(h);
	return ret;
}

void res_hosts_free(struct res_hosts *h)
{
	if (!h)
		return;
	free(h->ents);
	free(h->by_name);
	free(h->by_addr);
	res_arena_free(&h->strings);
	free(h);
}

size_t res_hosts_addrs(const struct res_hosts *h, const char *name, int family,
		       struct coop_resolver_addr *out, size_t max, const char **canonical)
{
	char key[COOP_RESOLVER_NAME_MAX];
	size_t found = 0, k;
	uint32_t i;

	if (!h || !h->n)
		return 0;
	name_key(name, key, sizeof(key));
	i = h->by_name[name_hash(key) & (h->nbuckets - 1)];
	for (; i != HOSTS_NONE; i = h->ents[i].next_name) {
		const struct hosts_ent *e = &h->ents[i];

		if (strcmp(e->name, key) || (family != AF_UNSPEC && e->addr.family != family))
			continue;
		/* The same address under two lines is one answer. */
		for (k = 0; k < found && k < max; k++)
			if (addr_eq(&out[k], &e->addr))
				break;
		if (k < found && k < max)
			continue;
		if (!found && canonical)
			*canonical = e->canonical;
		if (found < max)
			out[found] = e->addr;
		found++;
	}
	return found;
}

const char *res_hosts_name(const struct res_hosts *h, const struct coop_resolver_addr *a)
{
	uint32_t i;

	if (!h || !h->n)
		return NULL;
	i = h->by_addr[addr_hash(a) & (h->nbuckets - 1)];
	for (; i != HOSTS_NONE; i = h->ents[i].next_addr)
		if (addr_eq(&h->ents[i].addr, a))
			return h->ents[i].canonical;
	return NULL;
}

size_t res_hosts_count(const struct res_hosts *h)
{
	return h ? h->n : 0;
}
