/* xdp_util.h - shared by the XDP forwarder test and benchmark: loading coop_xdp.bpf.o and filling its maps, packets and their expected rewrites built independently in userspace. */
#ifndef COOP_XDP_TEST_UTIL_H
#define COOP_XDP_TEST_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "fwd/bpf/coop_xdp.h"
#include "fwd/coop_fwd.h"

/* libbpf's messages (the verifier log on a failed load) go to stderr only
 * when COOP_XDP_VERBOSE is set: a successful run stays quiet. */
static inline int xu_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG || !getenv("COOP_XDP_VERBOSE"))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* $B/<levels components>/exe -> $B/fwd/bpf/name, unless env names it. */
static inline void xu_object_path(char *buf, size_t len, const char *env, const char *name,
				  int levels)
{
	const char *v = getenv(env);
	char exe[PATH_MAX];
	ssize_t n;
	int i;

	if (v) {
		snprintf(buf, len, "%s", v);
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	for (i = 0; i < levels; i++) {
		char *slash = strrchr(exe, '/');

		if (slash)
			*slash = '\0';
	}
	snprintf(buf, len, "%s/fwd/bpf/%s", exe, name);
}

/* A loaded coop_xdp.bpf.o. */
struct xu_env {
	struct bpf_object *obj; /* the object */
	int prog;               /* coop_xdp program fd */
	int config;             /* coop_xdp_config fd */
	int vips;               /* coop_xdp_vips fd */
	int vslots;             /* coop_xdp_vslots fd */
	int peers;              /* coop_xdp_peers fd */
	int tables;             /* coop_xdp_tables fd */
	int nodes;              /* coop_xdp_nodes fd */
	int flows;              /* coop_xdp_flows fd */
	int frags;              /* coop_xdp_frags fd */
	int stats;              /* coop_xdp_stats fd */
	int rlimit;             /* coop_xdp_rlimit fd */
	int ncpu;               /* possible CPUs: values per per-CPU element */
};

static inline int xu_map(struct xu_env *e, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(e->obj, name);

	return m ? bpf_map__fd(m) : -1;
}

/* Write VIP entry (k, v) and enter it into its slot, as coopd does (the
 * slots are used once COOP_XDP_CFG_VIP_SLOTS is set). 0 or -1. */
static inline int xu_vip_put(struct xu_env *e, const struct coop_xdp_vip_key *k,
			     const struct coop_xdp_vip *v)
{
	struct coop_xdp_vip_slot s;
	uint32_t i = coop_xdp_vip_slot_of(k);

	if (bpf_map_update_elem(e->vips, k, v, BPF_ANY) ||
	    bpf_map_lookup_elem(e->vslots, &i, &s))
		return -1;
	coop_xdp_vip_slot_put(&s, k, v);
	return bpf_map_update_elem(e->vslots, &i, &s, BPF_ANY) ? -1 : 0;
}

/* Open and load the object at path, with flows entries in the flow cache
 * (0: the object's default). 0 or -1 + err. */
static inline int xu_env_open_sized(struct xu_env *e, const char *path, uint32_t flows, char *err,
				    size_t errlen)
{
	struct bpf_program *prog;

	memset(e, 0, sizeof(*e));
	libbpf_set_print(xu_libbpf_print);
	if (access(path, R_OK)) {
		snprintf(err, errlen, "%.300s: %s (build it with make)", path, strerror(errno));
		return -1;
	}
	e->obj = bpf_object__open_file(path, NULL);
	if (!e->obj) {
		snprintf(err, errlen, "%.300s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (flows && bpf_map__set_max_entries(bpf_object__find_map_by_name(e->obj, COOP_XDP_MAP_FLOWS),
					      flows)) {
		snprintf(err, errlen, "%.300s: cannot size the flow cache", path);
		bpf_object__close(e->obj);
		e->obj = NULL;
		return -1;
	}
	if (bpf_object__load(e->obj)) {
		snprintf(err, errlen, "%.300s: cannot load: %s (COOP_XDP_VERBOSE=1 shows the log)", path,
			 strerror(errno));
		bpf_object__close(e->obj);
		e->obj = NULL;
		return -1;
	}
	prog = bpf_object__find_program_by_name(e->obj, COOP_XDP_PROG_NAME);
	e->prog = prog ? bpf_program__fd(prog) : -1;
	e->config = xu_map(e, COOP_XDP_MAP_CONFIG);
	e->vips = xu_map(e, COOP_XDP_MAP_VIPS);
	e->vslots = xu_map(e, COOP_XDP_MAP_VIP_SLOTS);
	e->peers = xu_map(e, COOP_XDP_MAP_PEERS);
	e->tables = xu_map(e, COOP_XDP_MAP_TABLES);
	e->nodes = xu_map(e, COOP_XDP_MAP_NODES);
	e->flows = xu_map(e, COOP_XDP_MAP_FLOWS);
	e->frags = xu_map(e, COOP_XDP_MAP_FRAGS);
	e->stats = xu_map(e, COOP_XDP_MAP_STATS);
	e->rlimit = xu_map(e, COOP_XDP_MAP_RLIMIT);
	e->ncpu = libbpf_num_possible_cpus();
	if (e->prog < 0 || e->config < 0 || e->vips < 0 || e->vslots < 0 || e->peers < 0 ||
	    e->tables < 0 ||
	    e->nodes < 0 ||
	    e->flows < 0 || e->frags < 0 || e->stats < 0 || e->rlimit < 0 || e->ncpu <= 0) {
		snprintf(err, errlen, "%.300s: program or map missing", path);
		bpf_object__close(e->obj);
		e->obj = NULL;
		return -1;
	}
	return 0;
}

/* Open and load the object at path as built. 0 or -1 + err. */
static inline int xu_env_open(struct xu_env *e, const char *path, char *err, size_t errlen)
{
	return xu_env_open_sized(e, path, 0, err, errlen);
}

static inline void xu_env_close(struct xu_env *e)
{
	if (e->obj)
		bpf_object__close(e->obj);
	e->obj = NULL;
}

/* Load a single-program object (the calibration program); its fd or -1. */
static inline int xu_prog_open(const char *path, const char *name, struct bpf_object **obj)
{
	struct bpf_program *p;

	*obj = bpf_object__open_file(path, NULL);
	if (!*obj)
		return -1;
	if (bpf_object__load(*obj)) {
		bpf_object__close(*obj);
		*obj = NULL;
		return -1;
	}
	p = bpf_object__find_program_by_name(*obj, name);
	return p ? bpf_program__fd(p) : -1;
}

/*
 * Publish t as the table of service: a new inner array (header + entries,
 * BPF_F_INNER_MAP) filled completely, then swapped in with one update of
 * the outer map, as the control plane does. 0 or -errno.
 */
static inline int xu_table_publish(struct xu_env *e, uint32_t service,
				   const struct coop_fwd_maglev *t)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_INNER_MAP);
	const uint32_t *ids;
	uint32_t n, hdr, i, k;
	int fd, rc = 0;

	if (coop_fwd_maglev_mode(t) == COOP_FWD_MODE_ECMP) {
		ids = coop_fwd_maglev_active(t, &n);
		hdr = n | COOP_XDP_TABLE_ECMP;
	} else {
		ids = coop_fwd_maglev_entries(t, &n);
		hdr = n;
	}
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "coop_xdp_tbl", 4, 4, n + COOP_XDP_TABLE_HDR, &opts);
	if (fd < 0)
		return -errno;
	k = 0;
	if (bpf_map_update_elem(fd, &k, &hdr, BPF_ANY))
		rc = -errno;
	for (i = 0; !rc && i < n; i++) {
		k = COOP_XDP_TABLE_HDR + i;
		if (bpf_map_update_elem(fd, &k, &ids[i], BPF_ANY))
			rc = -errno;
	}
	if (!rc && bpf_map_update_elem(e->tables, &service, &fd, BPF_ANY))
		rc = -errno;
	close(fd); /* the outer map holds its own reference */
	return rc;
}

/* Per-counter packet totals over all CPUs into pk[COOP_XDP_CNT_MAX]. */
static inline int xu_counters(struct xu_env *e, uint64_t *pk)
{
	struct coop_xdp_counter v[e->ncpu];
	uint32_t id;
	int c;

	for (id = 0; id < COOP_XDP_CNT_MAX; id++) {
		if (bpf_map_lookup_elem(e->stats, &id, v))
			return -errno;
		pk[id] = 0;
		for (c = 0; c < e->ncpu; c++)
			pk[id] += v[c].packets;
	}
	return 0;
}

/* Remove every element of a hash map (key of keysize bytes): find the
 * successor before deleting, so the walk is linear. */
static inline void xu_map_clear(int fd, size_t keysize)
{
	uint8_t key[64], next[64];
	bool more;

	if (keysize > sizeof(key) || bpf_map_get_next_key(fd, NULL, key))
		return;
	do {
		more = !bpf_map_get_next_key(fd, key, next);
		bpf_map_delete_elem(fd, key);
		memcpy(key, next, keysize);
	} while (more);
}

/* One run of prog on in; out receives the resulting packet. 0 or -errno. */
static inline int xu_run(int prog, const void *in, size_t len, void *out, size_t *outlen,
			 uint32_t *retval)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = (uint32_t)len,
		    .data_out = out, .data_size_out = (uint32_t)*outlen, .repeat = 1);

	if (bpf_prog_test_run_opts(prog, &opts))
		return -errno;
	*outlen = opts.data_size_out;
	*retval = opts.retval;
	return 0;
}

/* --- packets ------------------------------------------------------------------- */

/* MACs of the fixtures: the router (client side) and this node. */
static const uint8_t xu_mac_router[6] = { 0x02, 0xc0, 0x00, 0x00, 0x00, 0x01 };
static const uint8_t xu_mac_self[6] = { 0x02, 0xc0, 0x00, 0x00, 0x00, 0xaa };

/* Frame bytes a struct xu_pkt holds; a test of larger frames defines it
 * before including this file. */
#ifndef XU_PKT_MAX
#define XU_PKT_MAX 4096
#endif

/* A packet buffer: frame bytes, and where the IP header starts. */
struct xu_pkt {
	uint8_t b[XU_PKT_MAX]; /* frame */
	size_t len;      /* bytes used */
	size_t l3;       /* offset of the IP header */
};

/* What to build. Addresses network order, ports host order. */
struct xu_spec {
	int family;         /* 4 or 6 */
	uint16_t vlan;      /* 802.1Q VLAN id of a tag after the MACs; 0: none */
	uint32_t src[4];    /* source address (IPv4 in src[0]) */
	uint32_t dst[4];    /* destination address */
	uint8_t proto;      /* upper-layer protocol */
	uint16_t sport;     /* TCP/UDP source port */
	uint16_t dport;     /* TCP/UDP destination port */
	uint8_t tcp_flags;  /* TCP flags byte (0x02 SYN, 0x10 ACK, ...) */
	size_t payload;     /* payload bytes after the L4 header */
	uint8_t tos;        /* IPv4 TOS / IPv6 traffic class */
	bool df;            /* IPv4 don't-fragment */
	int frag;           /* 0 none, 1 first fragment, 2 later fragment */
	uint32_t frag_id;   /* IPv4 ID (16 bits) / IPv6 fragment identification */
	uint16_t frag_off;  /* later fragment: offset in 8-byte units */
	int options;        /* IPv4 option bytes (multiple of 4, <= 40): NOPs + end */
	int v6_ext;         /* IPv6 hop-by-hop / destination-options headers before L4 */
	uint16_t ip_id;     /* IPv4 ID of a non-fragment */
};

static inline void xu_put(struct xu_pkt *p, const void *d, size_t n)
{
	memcpy(p->b + p->len, d, n);
	p->len += n;
}

static inline void xu_put16(struct xu_pkt *p, uint16_t v)
{
	uint16_t n = htons(v);

	xu_put(p, &n, 2);
}

/* RFC 1071 one's-complement sum over bytes (even offsets are high bytes),
 * the straightforward definition: independent of the BPF code's tricks. */
static inline uint32_t xu_sum(const void *d, size_t n, uint32_t sum)
{
	const uint8_t *b = d;
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (n & 1)
		sum += (uint32_t)b[n - 1] << 8;
	return sum;
}

static inline uint16_t xu_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Pseudo-header sum (addresses network order). */
static inline uint32_t xu_pseudo(int family, const uint32_t *src, const uint32_t *dst, size_t len,
				 uint8_t proto)
{
	uint32_t s = 0;

	s = xu_sum(src, family == 6 ? 16 : 4, s);
	s = xu_sum(dst, family == 6 ? 16 : 4, s);
	return s + (uint32_t)(len >> 16) + (uint32_t)(len & 0xffff) + proto;
}

static inline void xu_eth(struct xu_pkt *p, const uint8_t *dst, const uint8_t *src, uint16_t vlan,
			  uint16_t type)
{
	p->len = 0;
	xu_put(p, dst, 6);
	xu_put(p, src, 6);
	if (vlan) {
		xu_put16(p, 0x8100);
		xu_put16(p, vlan);
	}
	xu_put16(p, type);
	p->l3 = p->len;
}

/* Build the frame described by s: router -> this node. */
static inline void xu_build(struct xu_pkt *p, const struct xu_spec *s)
{
	size_t l4len = 0, hdr, i, l4;
	bool ports = (s->proto == 6 || s->proto == 17) && s->frag != 2;
	uint8_t ip[60] = { 0 };

	if (ports)
		l4len = s->proto == 6 ? 20 : 8;
	xu_eth(p, xu_mac_self, xu_mac_router, s->vlan, s->family == 6 ? 0x86dd : 0x0800);
	if (s->family == 4) {
		uint16_t frag = (s->df ? 0x4000 : 0) | (s->frag == 1 ? 0x2000 : 0) |
				(s->frag == 2 ? s->frag_off : 0);
		uint16_t id = s->frag ? (uint16_t)s->frag_id : s->ip_id;
		size_t tot;

		hdr = 20 + (size_t)s->options;
		tot = hdr + l4len + s->payload;
		ip[0] = (uint8_t)(0x40 | hdr / 4);
		ip[1] = s->tos;
		ip[2] = (uint8_t)(tot >> 8);
		ip[3] = (uint8_t)tot;
		ip[4] = (uint8_t)(id >> 8);
		ip[5] = (uint8_t)id;
		ip[6] = (uint8_t)(frag >> 8);
		ip[7] = (uint8_t)frag;
		ip[8] = 64;
		ip[9] = s->proto;
		memcpy(ip + 12, &s->src[0], 4);
		memcpy(ip + 16, &s->dst[0], 4);
		for (i = 20; i < hdr; i++)
			ip[i] = i + 1 < hdr ? 1 : 0; /* NOPs, then end of options */
		{
			uint16_t c = xu_fold(xu_sum(ip, hdr, 0));

			ip[10] = (uint8_t)(c >> 8);
			ip[11] = (uint8_t)c;
		}
		xu_put(p, ip, hdr);
	} else {
		size_t ext = (size_t)s->v6_ext * 8 + (s->frag ? 8 : 0);
		size_t plen = ext + l4len + s->payload;
		uint8_t nh0 = s->v6_ext ? 0 : s->frag ? 44 : s->proto;
		int k;

		ip[0] = (uint8_t)(0x60 | s->tos >> 4);
		ip[1] = (uint8_t)(s->tos << 4);
		ip[4] = (uint8_t)(plen >> 8);
		ip[5] = (uint8_t)plen;
		ip[6] = nh0;
		ip[7] = 64;
		memcpy(ip + 8, s->src, 16);
		memcpy(ip + 24, s->dst, 16);
		xu_put(p, ip, 40);
		for (k = 0; k < s->v6_ext; k++) {
			/* hop-by-hop first, then destination options: PadN */
			uint8_t o[8] = { k + 1 < s->v6_ext ? 60 : s->frag ? 44 : s->proto, 0, 1, 4 };

			xu_put(p, o, 8);
		}
		if (s->frag) {
			uint16_t om = (uint16_t)((s->frag == 2 ? s->frag_off : 0) << 3 | 1);
			uint8_t f[8] = { s->proto, 0, (uint8_t)(om >> 8), (uint8_t)om };
			uint32_t id = htonl(s->frag_id);

			memcpy(f + 4, &id, 4);
			xu_put(p, f, 8);
		}
	}
	l4 = p->len;
	if (ports) {
		uint8_t h[20] = { 0 };

		h[0] = (uint8_t)(s->sport >> 8);
		h[1] = (uint8_t)s->sport;
		h[2] = (uint8_t)(s->dport >> 8);
		h[3] = (uint8_t)s->dport;
		if (s->proto == 6) {
			h[4] = 0x11; /* sequence number */
			h[12] = 5 << 4;
			h[13] = s->tcp_flags;
			h[14] = 0xfa;
		} else {
			size_t ul = 8 + s->payload;

			h[4] = (uint8_t)(ul >> 8);
			h[5] = (uint8_t)ul;
		}
		xu_put(p, h, l4len);
	}
	for (i = 0; i < s->payload; i++)
		p->b[p->len++] = (uint8_t)(i * 7 + s->sport);
	if (ports && !s->frag) {
		/* a correct L4 checksum, as a client sends */
		size_t seg = p->len - l4;
		uint16_t c = xu_fold(xu_sum(p->b + l4, seg, xu_pseudo(s->family, s->src, s->dst,
								       seg, s->proto)));
		size_t at = l4 + (s->proto == 6 ? 16 : 6);

		if (s->proto == 17 && c == 0)
			c = 0xffff;
		p->b[at] = (uint8_t)(c >> 8);
		p->b[at + 1] = (uint8_t)c;
	}
}

/* The flow tuple of s, as the data path keys it. */
static inline void xu_tuple(struct coop_fwd_tuple *t, const struct xu_spec *s)
{
	bool ports = s->frag != 2;
	__be16 sp = ports ? htons(s->sport) : 0, dp = ports ? htons(s->dport) : 0;

	if (s->family == 4)
		coop_fwd_tuple_v4(t, s->src[0], s->dst[0], sp, dp, s->proto);
	else
		coop_fwd_tuple_v6(t, s->src, s->dst, sp, dp, s->proto);
}

/* How to wrap a packet: the expected output of an encapsulation, or a
 * tunnel packet from a peer for the decapsulation cases. */
struct xu_outer {
	int family;            /* outer IP version: 4 or 6 */
	bool ipip;             /* IP in IP instead of GUE */
	bool steer;            /* GUE with the steered-fragment private flag */
	bool variant1;         /* GUE variant 1: no GUE header */
	bool csum;             /* compute the UDP checksum (IPv4; IPv6 always) */
	const uint8_t *dmac;   /* outer destination MAC */
	const uint8_t *smac;   /* outer source MAC */
	uint16_t vlan;         /* 802.1Q tag; 0: none */
	uint32_t src[4];       /* outer source address */
	uint32_t dst[4];       /* outer destination address */
	uint16_t sport;        /* UDP source port (host order) */
	uint16_t dport;        /* UDP destination port (host order) */
	uint32_t flowlabel;    /* IPv6 flow label */
};

/* Wrap the IP packet of in (its frame's l3 .. l3 + IP length) as o says. */
static inline void xu_encap(struct xu_pkt *out, const struct xu_pkt *in, const struct xu_outer *o)
{
	const uint8_t *inner = in->b + in->l3;
	bool inner6 = (inner[0] >> 4) == 6;
	size_t ilen = inner6 ? 40u + (size_t)(inner[4] << 8 | inner[5]) : (size_t)(inner[2] << 8 | inner[3]);
	uint8_t iproto = inner6 ? 41 : 4, tos = inner6 ? (uint8_t)(inner[0] << 4 | inner[1] >> 4) : inner[1];
	size_t gl = o->ipip ? 0 : o->variant1 ? 0 : o->steer ? 8 : 4;
	size_t ul = o->ipip ? 0 : 8 + gl + ilen, ipstart, ustart = 0;
	uint8_t ip[40] = { 0 };

	xu_eth(out, o->dmac, o->smac, o->vlan, o->family == 6 ? 0x86dd : 0x0800);
	ipstart = out->len;
	if (o->family == 4) {
		size_t tot = 20 + (o->ipip ? 0 : ul - ilen) + ilen;
		uint16_t c;

		ip[0] = 0x45;
		ip[1] = tos;
		ip[2] = (uint8_t)(tot >> 8);
		ip[3] = (uint8_t)tot;
		ip[6] = 0x40; /* DF */
		ip[8] = 64;
		ip[9] = o->ipip ? iproto : 17;
		memcpy(ip + 12, &o->src[0], 4);
		memcpy(ip + 16, &o->dst[0], 4);
		c = xu_fold(xu_sum(ip, 20, 0));
		ip[10] = (uint8_t)(c >> 8);
		ip[11] = (uint8_t)c;
		xu_put(out, ip, 20);
	} else {
		size_t plen = (o->ipip ? 0 : ul - ilen) + ilen;

		ip[0] = (uint8_t)(0x60 | tos >> 4);
		ip[1] = (uint8_t)(tos << 4 | (o->flowlabel >> 16 & 0xf));
		ip[2] = (uint8_t)(o->flowlabel >> 8);
		ip[3] = (uint8_t)o->flowlabel;
		ip[4] = (uint8_t)(plen >> 8);
		ip[5] = (uint8_t)plen;
		ip[6] = o->ipip ? iproto : 17;
		ip[7] = 64;
		memcpy(ip + 8, o->src, 16);
		memcpy(ip + 24, o->dst, 16);
		xu_put(out, ip, 40);
	}
	if (!o->ipip) {
		ustart = out->len;
		xu_put16(out, o->sport);
		xu_put16(out, o->dport);
		xu_put16(out, (uint16_t)ul);
		xu_put16(out, 0);
		if (!o->variant1) {
			uint8_t g[4] = { o->steer ? 1 : 0, iproto, 0, o->steer ? 1 : 0 };

			xu_put(out, g, 4);
			if (o->steer) {
				uint8_t priv[4] = { 0, 0, 0, 1 };

				xu_put(out, priv, 4);
			}
		}
	}
	xu_put(out, inner, ilen);
	if (!o->ipip && (o->csum || o->family == 6)) {
		uint32_t s = xu_pseudo(o->family, o->src, o->dst, ul, 17);
		uint16_t c = xu_fold(xu_sum(out->b + ustart, ul, s));

		if (c == 0)
			c = 0xffff;
		out->b[ustart + 6] = (uint8_t)(c >> 8);
		out->b[ustart + 7] = (uint8_t)c;
	}
	(void)ipstart;
}

/* Expected ICMP "too big" reply to in (VIP -> client), quoting q bytes. */
static inline void xu_icmp_too_big(struct xu_pkt *out, const struct xu_pkt *in, uint32_t mtu)
{
	const uint8_t *ip = in->b + in->l3;
	bool v6 = (ip[0] >> 4) == 6;
	uint16_t vlan = in->l3 == 18 ? (uint16_t)(in->b[14] << 8 | in->b[15]) : 0;
	size_t q = v6 ? COOP_XDP_ICMP6_QUOTE : COOP_XDP_ICMP4_QUOTE, icmp;
	uint8_t h[40] = { 0 };
	uint16_t c;

	xu_eth(out, in->b + 6, in->b, vlan, v6 ? 0x86dd : 0x0800);
	if (!v6) {
		size_t tot = 28 + q;

		h[0] = 0x45;
		h[1] = 0xc0;
		h[2] = (uint8_t)(tot >> 8);
		h[3] = (uint8_t)tot;
		h[8] = 64;
		h[9] = 1;
		memcpy(h + 12, ip + 16, 4); /* from the VIP */
		memcpy(h + 16, ip + 12, 4); /* to the client */
		c = xu_fold(xu_sum(h, 20, 0));
		h[10] = (uint8_t)(c >> 8);
		h[11] = (uint8_t)c;
		xu_put(out, h, 20);
	} else {
		h[0] = 0x60;
		h[4] = (uint8_t)((8 + q) >> 8);
		h[5] = (uint8_t)(8 + q);
		h[6] = 58;
		h[7] = 64;
		memcpy(h + 8, ip + 24, 16);
		memcpy(h + 24, ip + 8, 16);
		xu_put(out, h, 40);
	}
	icmp = out->len;
	{
		uint8_t m[8] = { v6 ? 2 : 3, v6 ? 0 : 4, 0, 0, (uint8_t)(mtu >> 24), (uint8_t)(mtu >> 16),
				 (uint8_t)(mtu >> 8), (uint8_t)mtu };

		xu_put(out, m, 8);
	}
	xu_put(out, ip, q);
	if (v6) {
		uint32_t s6[4], d6[4];

		memcpy(s6, ip + 24, 16);
		memcpy(d6, ip + 8, 16);
		c = xu_fold(xu_sum(out->b + icmp, 8 + q, xu_pseudo(6, s6, d6, 8 + q, 58)));
	} else {
		c = xu_fold(xu_sum(out->b + icmp, 8 + q, 0));
	}
	out->b[icmp + 2] = (uint8_t)(c >> 8);
	out->b[icmp + 3] = (uint8_t)c;
}

#endif
