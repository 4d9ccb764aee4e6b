/* resolver.c - per-VS resolvers: settings published by generation, one
 * c-ares channel per (VS, thread) created on that thread's first lookup and
 * driven by its libev loop, sockets from the VS's scope, and lookups with
 * hosts file, cache, search list, deadline and cancellation. */
#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/util.h"
#include "core/runtime.h"
#include "resolver/resolver_priv.h"

#define EDNS_PAYLOAD	 1232 /* DNS flag day 2020: no IP fragmentation */
#define HOSTS_ANSWER_MAX 64   /* addresses one hosts-file answer carries */
#define CSV_MAX		 (COOP_RESOLVER_SERVERS_MAX * 56) /* "[v6]:port," per server */
#define ALL_FLAGS                                                                                  \
	(COOP_RESOLVER_F_NOCACHE | COOP_RESOLVER_F_NOSEARCH | COOP_RESOLVER_F_V4FIRST |            \
	 COOP_RESOLVER_F_NOHOSTS)
/* Cache keys: a record type, or an address lookup with its family bits. */
#define KIND_ADDR     0x10000u
#define KIND_NOSEARCH 0x100000u


/* Settings of one generation: immutable once published, shared by the
 * resolver (current) and by every channel built from them. */
struct res_settings {
	_Atomic unsigned refs;		/* resolver + channels */
	uint64_t gen;			/* 1, +1 per coop_resolver_configure */
	const struct coop_resolver_conf *conf; /* as given: own_conf, or the
						* shared defaults (no servers) */
	char servers_csv[CSV_MAX];	/* for ares_set_servers_ports_csv */
	struct res_hosts *hosts;	/* parsed hosts_file, NULL = none */
	double deadline;		/* seconds a lookup may take at most */
	struct coop_resolver_conf own_conf[]; /* a conf other than the defaults */
};

/* A socket c-ares asked us to watch. Owned by its channel's thread. */
struct res_sock {
	ev_io io;		/* on the channel's loop */
	struct res_channel *ch; /* owner */
	struct res_sock *next;	/* channel's list */
};

/* The c-ares channel of one VS on one thread (loop). Everything in it is
 * used only by that thread (and by coop_resolver_free once no thread runs). */
struct res_channel {
	struct coop_resolver *r;	     /* resolver */
	struct res_slot *slot;		     /* slot it belongs to */
	struct ev_loop *loop;		     /* the owning thread's loop */
	ares_channel ares;		     /* c-ares state */
	struct res_settings *set;	     /* settings it was built from (held) */
	ev_timer timer;			     /* next c-ares timeout */
	ev_timer reap;			     /* deferred destroy once retired and idle */
	struct res_sock *socks;		     /* watched sockets */
	struct coop_resolver_query *queries; /* lookups using it (doubly linked) */
	unsigned users;			     /* lookups alive (queries list length) */
	bool retired;			     /* replaced by a newer generation, or idle
					      * after TCP */
	bool tcp;			     /* c-ares opened a TCP connection */
	bool destroying;		     /* inside ares_destroy */
	struct res_channel *next;	     /* slot's retired list */
};

/* A thread's place in a resolver, claimed by its loop on first use. */
struct res_slot {
	_Atomic(struct ev_loop *) loop; /* owner, NULL while free */
	struct res_channel *cur;	/* current channel (owner thread only) */
	struct res_channel *retired;	/* older channels still draining */
};

/* Counters, bumped by any thread (relaxed atomics). */
struct res_counters {
	_Atomic uint64_t queries, answers, negative, cache_hits, timeouts, failures, cancelled,
	    upstream;
};

struct coop_resolver {
	char name[64];			/* for messages (the VS name) */
	coop_resolver_socket_fn sockfn; /* makes sockets in the VS's scope */
	void *sockctx;			/* its argument */
	pthread_mutex_t lock;		/* guards set */
	struct res_settings *set;	/* current settings (held) */
	_Atomic uint64_t gen;		/* set->gen, read without the lock */
	struct res_cache *cache;	/* answers, shared by the threads */
	struct res_slot *slots;		/* one per thread that resolves */
	unsigned n_slots;
	_Atomic bool closed;   /* coop_resolver_shutdown: no new lookups */
	struct res_counters c; /* counters */
};

/* One DNS question of a lookup (one type for the current candidate name). */
struct res_wire {
	struct coop_resolver_query *q; /* owner */
	uint16_t type;		       /* QTYPE */
	bool busy;		       /* inside c-ares */
	int status;		       /* 0 (records in set) or -errno */
	struct res_rrset set;	       /* records found */
	bool has_soa;		       /* negative answer carried an SOA */
	uint32_t neg_ttl;	       /* its negative TTL */
};

/* A lookup. Owned by the thread that started it; freed when it is done
 * (answered, failed or cancelled) and c-ares holds none of its questions. */
struct coop_resolver_query {
	struct coop_resolver *r;			 /* resolver */
	struct res_channel *ch;				 /* channel carrying it */
	coop_resolver_cb cb;				 /* caller's callback */
	void *arg;					 /* its argument */
	unsigned flags;					 /* COOP_RESOLVER_F_* */
	int family;					 /* address lookups: AF_* */
	uint16_t type;					 /* record type, 0 = address lookup */
	uint32_t kind;					 /* cache key kind */
	char key[COOP_RESOLVER_NAME_MAX];		 /* name as asked (cache key) */
	char name[COOP_RESOLVER_NAME_MAX];		 /* without a final dot */
	signed char order[COOP_RESOLVER_SEARCH_MAX + 1]; /* candidates: -1 = as
							  * given, k = search[k] */
	unsigned n_cands;				 /* entries in order */
	unsigned cand;					 /* current candidate */
	struct res_wire wire[2];			 /* questions of the current candidate */
	unsigned n_wires;				 /* 1, or 2 for A+AAAA */
	unsigned inflight;				 /* wires inside c-ares */
	bool starting;					 /* issuing wires: completions wait */
	bool done;					 /* finished or cancelled */
	bool cancelled;					 /* the caller does not want the answer */
	bool saw_nodata;			 /* some candidate exists without the type */
	bool saw_servfail;			 /* some candidate got SERVFAIL */
	bool neg_ok;				 /* every negative answer had an SOA */
	uint32_t neg_ttl;			 /* min negative TTL so far */
	ev_timer deadline;			 /* the lookup's time limit */
	bool *finished;				 /* set by finish() while start() runs */
	struct coop_resolver_query *prev, *next; /* channel's list */
};

static pthread_once_t ares_once = PTHREAD_ONCE_INIT;
static int ares_init_status;

static void ares_init_once(void)
{
	ares_init_status = ares_library_init(ARES_LIB_INIT_ALL);
}

static void bump(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* Translate a c-ares status at the module boundary. */
static int map_ares(int status)
{
	switch (status) {
	case ARES_SUCCESS:
		return 0;
	case ARES_ENODATA:
		return -ENODATA;
	case ARES_ENOTFOUND:
	case ARES_ENONAME:
		return -ENOENT;
	case ARES_ESERVFAIL:
		return -EAGAIN;
	case ARES_EREFUSED:
	case ARES_ECONNREFUSED:
		return -ECONNREFUSED;
	case ARES_ETIMEOUT:
		return -ETIMEDOUT;
	case ARES_EFORMERR:
	case ARES_EBADRESP:
		return -EBADMSG;
	case ARES_ENOTIMP:
		return -EOPNOTSUPP;
	case ARES_ENOMEM:
		return -ENOMEM;
	case ARES_EBADNAME:
	case ARES_EBADQUERY:
	case ARES_EBADFAMILY:
		return -EINVAL;
	case ARES_ECANCELLED:
	case ARES_EDESTRUCTION:
		return -ECANCELED;
	case ARES_EOF:
		return -ECONNRESET;
	default:
		return -EIO;
	}
}

static void count_end(struct coop_resolver *r, int status, unsigned info)
{
	if (info & COOP_RESOLVER_I_CACHED)
		bump(&r->c.cache_hits);
	if (status == 0)
		bump(&r->c.answers);
	else if (status == -ENOENT || status == -ENODATA)
		bump(&r->c.negative);
	else if (status == -ETIMEDOUT)
		bump(&r->c.timeouts);
	else
		bump(&r->c.failures);
}

/* --- settings ------------------------------------------------------------------- */

static void settings_put(struct res_settings *s)
{
	if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	res_hosts_free(s->hosts);
	free(s);
}

static struct res_settings *settings_hold(struct res_settings *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	return s;
}

/* The current settings, held for the caller. */
static struct res_settings *settings_get(struct coop_resolver *r)
{
	struct res_settings *s;

	pthread_mutex_lock(&r->lock);
	s = settings_hold(r->set);
	pthread_mutex_unlock(&r->lock);
	return s;
}

static struct coop_resolver_conf default_conf; /* coop_resolver_conf_init's */
static pthread_once_t default_conf_once = PTHREAD_ONCE_INIT;

static void default_conf_init(void)
{
	coop_resolver_conf_init(&default_conf);
}

const struct coop_resolver_conf *coop_resolver_conf_defaults(void)
{
	pthread_once(&default_conf_once, default_conf_init);
	return &default_conf;
}

static int settings_new(const char *rname, const struct coop_resolver_conf *conf, uint64_t gen,
			struct res_settings **out, char *err, size_t errlen)
{
	const char *key;
	char msg[512];
	struct res_settings *s;
	bool own;
	int ret;

	/* The hosts file is read below, once. */
	ret = coop_resolver_conf_check(conf, false, &key, msg, sizeof(msg));
	if (ret < 0) {
		snprintf(err, errlen, "vs '%s': %s: %s", rname, key, msg);
		return ret;
	}
	/* Most VSes of a large configuration have no resolver settings:
	 * they share the defaults instead of carrying a copy (6 kB) each. */
	own = conf != coop_resolver_conf_defaults() &&
	      memcmp(conf, &default_conf, sizeof(*conf)) != 0;
	s = calloc(1, sizeof(*s) + (own ? sizeof(*conf) : 0));
	if (!s) {
		snprintf(err, errlen, "vs '%s': out of memory", rname);
		return -ENOMEM;
	}
	atomic_init(&s->refs, 1);
	s->gen = gen;
	if (own) {
		s->own_conf[0] = *conf;
		s->conf = s->own_conf;
	} else {
		s->conf = &default_conf;
	}
	coop_resolver_conf_servers_str(conf, s->servers_csv, sizeof(s->servers_csv));
	s->deadline =
	    conf->timeout_ms / 1000.0 * conf->attempts * (conf->n_servers ? conf->n_servers : 1);
	if (conf->n_servers && conf->hosts_file[0]) {
		ret = res_hosts_load(conf->hosts_file, &s->hosts, msg, sizeof(msg));
		if (ret < 0) {
			snprintf(err, errlen, "vs '%s': %s", rname, msg);
			free(s);
			return ret;
		}
	}
	*out = s;
	return 0;
}

/* --- resolvers ----------------------------------------------------------------- */

int coop_resolver_new(const char *name, const struct coop_resolver_conf *conf,
		      coop_resolver_socket_fn sockfn, void *ctx, unsigned slots,
		      struct coop_resolver **out, char *err, size_t errlen)
{
	struct coop_resolver *r;
	int ret;

	pthread_once(&ares_once, ares_init_once);
	if (ares_init_status != ARES_SUCCESS) {
		snprintf(err, errlen, "vs '%s': c-ares: %s", name, ares_strerror(ares_init_status));
		return -EIO;
	}
	if (!sockfn || !slots) {
		snprintf(err, errlen, "vs '%s': resolver needs a socket function and a slot", name);
		return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		goto err_nomem;
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->sockfn = sockfn;
	r->sockctx = ctx;
	r->n_slots = slots;
	r->slots = calloc(slots, sizeof(*r->slots));
	r->cache = res_cache_new(conf->cache_size);
	if (!r->slots || !r->cache)
		goto err_free;
	ret = settings_new(name, conf, 1, &r->set, err, errlen);
	if (ret < 0) {
		res_cache_free(r->cache);
		free(r->slots);
		free(r);
		return ret;
	}
	res_cache_reset(r->cache, 1, conf->cache_size);
	atomic_init(&r->gen, 1);
	pthread_mutex_init(&r->lock, NULL);
	*out = r;
	return 0;

err_free:
	res_cache_free(r->cache);
	free(r->slots);
	free(r);
err_nomem:
	snprintf(err, errlen, "vs '%s': out of memory", name);
	return -ENOMEM;
}

int coop_resolver_configure(struct coop_resolver *r, const struct coop_resolver_conf *conf,
			    char *err, size_t errlen)
{
	struct res_settings *s, *old;
	uint64_t gen;
	int ret;

	pthread_mutex_lock(&r->lock);
	gen = r->set->gen + 1;
	pthread_mutex_unlock(&r->lock);
	ret = settings_new(r->name, conf, gen, &s, err, errlen);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&r->lock);
	/* Two configure calls racing: the later generation number wins. */
	s->gen = r->set->gen + 1;
	old = r->set;
	r->set = s;
	atomic_store_explicit(&r->gen, s->gen, memory_order_release);
	res_cache_reset(r->cache, s->gen, conf->cache_size);
	pthread_mutex_unlock(&r->lock);
	settings_put(old);
	return 0;
}

bool coop_resolver_enabled(const struct coop_resolver *r)
{
	struct coop_resolver *m = (struct coop_resolver *)r; /* the lock only */
	bool on;

	pthread_mutex_lock(&m->lock);
	on = m->set->conf->n_servers > 0;
	pthread_mutex_unlock(&m->lock);
	return on;
}

void coop_resolver_conf_get(const struct coop_resolver *r, struct coop_resolver_conf *out)
{
	struct coop_resolver *m = (struct coop_resolver *)r;

	pthread_mutex_lock(&m->lock);
	*out = *m->set->conf;
	pthread_mutex_unlock(&m->lock);
}

void coop_resolver_cache_flush(struct coop_resolver *r)
{
	pthread_mutex_lock(&r->lock);
	res_cache_reset(r->cache, r->set->gen, r->set->conf->cache_size);
	pthread_mutex_unlock(&r->lock);
}

void coop_resolver_stats_get(const struct coop_resolver *r, struct coop_resolver_stats *out)
{
	const struct res_counters *c = &r->c;

	out->queries = atomic_load_explicit(&c->queries, memory_order_relaxed);
	out->answers = atomic_load_explicit(&c->answers, memory_order_relaxed);
	out->negative = atomic_load_explicit(&c->negative, memory_order_relaxed);
	out->cache_hits = atomic_load_explicit(&c->cache_hits, memory_order_relaxed);
	out->timeouts = atomic_load_explicit(&c->timeouts, memory_order_relaxed);
	out->failures = atomic_load_explicit(&c->failures, memory_order_relaxed);
	out->cancelled = atomic_load_explicit(&c->cancelled, memory_order_relaxed);
	out->upstream = atomic_load_explicit(&c->upstream, memory_order_relaxed);
	out->cache_entries = res_cache_count(r->cache);
	out->generation = atomic_load_explicit(&r->gen, memory_order_acquire);
}

/* --- sockets: c-ares's I/O through the VS's scope ------------------------------ */

static ares_socket_t sf_socket(int domain, int type, int protocol, void *ud)
{
	struct res_channel *ch = ud;
	int fd;

	/* With its socket functions replaced c-ares sets no flag itself. */
	fd = ch->r->sockfn(ch->r->sockctx, domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
	if (fd < 0) {
		errno = -fd;
		return ARES_SOCKET_BAD;
	}
	if (type == SOCK_STREAM)
		ch->tcp = true;
	return fd;
}

static int sf_close(ares_socket_t fd, void *ud)
{
	(void)ud;
	return close(fd);
}

static int sf_connect(ares_socket_t fd, const struct sockaddr *sa, ares_socklen_t len, void *ud)
{
	(void)ud;
	return connect(fd, sa, len);
}

static ares_ssize_t sf_recvfrom(ares_socket_t fd, void *buf, size_t len, int flags,
				struct sockaddr *from, ares_socklen_t *fromlen, void *ud)
{
	(void)ud;
	return recvfrom(fd, buf, len, flags, from, fromlen);
}

static ares_ssize_t sf_sendv(ares_socket_t fd, const struct iovec *iov, int n, void *ud)
{
	struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};

	(void)ud;
	/* Not writev: a TCP server that went away must not raise SIGPIPE in
	 * an application that did not ignore it. */
	return sendmsg(fd, &msg, MSG_NOSIGNAL);
}

static const struct ares_socket_functions sock_funcs = {
    .asocket = sf_socket,
    .aclose = sf_close,
    .aconnect = sf_connect,
    .arecvfrom = sf_recvfrom,
    .asendv = sf_sendv,
};

/* --- channels ------------------------------------------------------------------- */

static void query_free(struct coop_resolver_query *q);

/* Arm the timer for c-ares's next timeout, or stop it when nothing waits. */
static void channel_rearm(struct res_channel *ch)
{
	struct timeval tv;

	if (ch->destroying)
		return;
	ev_timer_stop(ch->loop, &ch->timer);
	if (ares_timeout(ch->ares, NULL, &tv)) {
		ev_timer_set(&ch->timer, (double)tv.tv_sec + tv.tv_usec / 1e6, 0.);
		ev_timer_start(ch->loop, &ch->timer);
	}
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct res_sock *s = container_of(w, struct res_sock, io);
	struct res_channel *ch = s->ch;
	int fd = w->fd;

	(void)loop;
	/* s may be freed inside (c-ares closing the socket); ch may not:
	 * channels are only destroyed from their reap timer. */
	ares_process_fd(ch->ares, (revents & EV_READ) ? fd : ARES_SOCKET_BAD,
			(revents & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	channel_rearm(ch);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct res_channel *ch = container_of(w, struct res_channel, timer);

	(void)loop;
	(void)revents;
	ares_process_fd(ch->ares, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	channel_rearm(ch);
}

/* c-ares tells which sockets to watch, and for what; (fd, 0, 0) = stop. */
static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct res_channel *ch = data;
	struct res_sock *s, **pp;

	for (pp = &ch->socks; (s = *pp); pp = &s->next)
		if (s->io.fd == fd)
			break;
	if (!readable && !writable) {
		if (s) {
			ev_io_stop(ch->loop, &s->io);
			*pp = s->next;
			free(s);
		}
		return;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return; /* unwatched: its lookup ends at its deadline */
		s->ch = ch;
		ev_io_init(&s->io, io_cb, fd, 0);
		s->next = ch->socks;
		ch->socks = s;
	}
	ev_io_stop(ch->loop, &s->io);
	ev_io_set(&s->io, fd, (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
	ev_io_start(ch->loop, &s->io);
}

/* Destroy a channel: c-ares first (it reports its sockets closed and ends
 * its questions), then our own watchers, timers and remaining lookups. The
 * owning thread, or any thread once that one no longer runs. */
static void channel_destroy(struct res_channel *ch)
{
	ch->destroying = true;
	if (ch->ares)
		ares_destroy(ch->ares);
	ev_timer_stop(ch->loop, &ch->timer);
	ev_timer_stop(ch->loop, &ch->reap);
	while (ch->socks) {
		struct res_sock *s = ch->socks;

		ev_io_stop(ch->loop, &s->io);
		ch->socks = s->next;
		free(s);
	}
	/* Lookups still here belong to a resolver being freed: their callers
	 * are gone, so no callback. */
	while (ch->queries) {
		struct coop_resolver_query *q = ch->queries;

		q->inflight = 0;
		query_free(q);
	}
	settings_put(ch->set);
	free(ch);
}

static void reap_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct res_channel *ch = container_of(w, struct res_channel, reap);
	struct res_channel **pp = &ch->slot->retired;

	(void)loop;
	(void)revents;
	if (ch->users)
		return; /* query_free starts the timer again at zero */
	while (*pp != ch)
		pp = &(*pp)->next;
	*pp = ch->next;
	channel_destroy(ch);
}

/* Stop giving new lookups to ch; destroy it once its last lookup is gone
 * (from the loop, never from inside c-ares). */
static void channel_retire(struct res_channel *ch)
{
	ch->retired = true;
	ch->next = ch->slot->retired;
	ch->slot->retired = ch;
	if (!ch->users)
		ev_timer_start(ch->loop, &ch->reap);
}

static struct res_channel *channel_new(struct coop_resolver *r, struct res_slot *slot,
				       struct ev_loop *loop, struct res_settings *set, int *err)
{
	struct ares_options o;
	struct res_channel *ch;
	char lookups[] = "b";
	int st, mask;

	ch = calloc(1, sizeof(*ch));
	if (!ch) {
		*err = -ENOMEM;
		return NULL;
	}
	ch->r = r;
	ch->slot = slot;
	ch->loop = loop;
	ch->set = set;
	ev_timer_init(&ch->timer, timer_cb, 0., 0.);
	ev_timer_init(&ch->reap, reap_cb, 0., 0.);

	/* Every field c-ares would otherwise take from the host (resolv.conf,
	 * LOCALDOMAIN, RES_OPTIONS, HOSTALIASES, /etc/hosts, the hostname's
	 * domain) is given, so it reads none of them. No search list and
	 * NOSEARCH: coop walks the VS's search list itself. */
	memset(&o, 0, sizeof(o));
	o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ARES_FLAG_STAYOPEN | ARES_FLAG_EDNS;
	o.timeout = (int)set->conf->timeout_ms;
	o.tries = (int)set->conf->attempts;
	o.ndots = (int)set->conf->ndots;
	o.udp_port = 53;
	o.tcp_port = 53;
	o.servers = NULL;
	o.nservers = 0;
	o.domains = NULL;
	o.ndomains = 0;
	o.lookups = lookups;
	o.sock_state_cb = sock_state_cb;
	o.sock_state_cb_data = ch;
	o.sortlist = NULL;
	o.nsort = 0;
	o.ednspsz = EDNS_PAYLOAD;
	mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_NDOTS |
	       ARES_OPT_UDP_PORT | ARES_OPT_TCP_PORT | ARES_OPT_SERVERS | ARES_OPT_DOMAINS |
	       ARES_OPT_LOOKUPS | ARES_OPT_SOCK_STATE_CB | ARES_OPT_SORTLIST | ARES_OPT_EDNSPSZ |
	       ARES_OPT_NOROTATE;
	st = ares_init_options(&ch->ares, &o, mask);
	if (st != ARES_SUCCESS) {
		ch->ares = NULL;
		goto err_free;
	}
	ares_set_socket_functions(ch->ares, &sock_funcs, ch);
	/* Not ares_set_servers_csv: it ignores ":port". */
	st = ares_set_servers_ports_csv(ch->ares, set->servers_csv);
	if (st != ARES_SUCCESS)
		goto err_destroy;
	return ch;

err_destroy:
	ares_destroy(ch->ares);
err_free:
	free(ch);
	*err = map_ares(st);
	if (*err == -ECANCELED || *err == -EIO)
		*err = -ENOMEM;
	return NULL;
}

/* The slot of loop: found, or claimed (lock-free: loops only ever add). */
static struct res_slot *slot_for(struct coop_resolver *r, struct ev_loop *loop)
{
	unsigned i;

	for (i = 0; i < r->n_slots; i++) {
		struct ev_loop *l = atomic_load_explicit(&r->slots[i].loop, memory_order_acquire);

		if (l == loop)
			return &r->slots[i];
		if (!l)
			break;
	}
	for (; i < r->n_slots; i++) {
		struct ev_loop *expect = NULL;

		if (atomic_compare_exchange_strong(&r->slots[i].loop, &expect, loop) ||
		    expect == loop)
			return &r->slots[i];
	}
	return NULL;
}

/* The channel for a lookup starting now on slot's thread: the current one,
 * or a new one when the settings changed since it was built. */
static struct res_channel *channel_get(struct coop_resolver *r, struct res_slot *slot,
				       struct ev_loop *loop, int *err)
{
	uint64_t gen = atomic_load_explicit(&r->gen, memory_order_acquire);
	struct res_channel *ch = slot->cur;
	struct res_settings *set;

	if (ch && ch->set->gen == gen)
		return ch;
	set = settings_get(r);
	if (ch) {
		slot->cur = NULL;
		channel_retire(ch);
	}
	if (!set->conf->n_servers) {
		settings_put(set);
		*err = -ENOTSUP;
		return NULL;
	}
	ch = channel_new(r, slot, loop, set, err);
	if (!ch) {
		settings_put(set);
		return NULL;
	}
	slot->cur = ch;
	return ch;
}

void coop_resolver_shutdown(struct coop_resolver *r)
{
	atomic_store_explicit(&r->closed, true, memory_order_release);
}

static void finish(struct coop_resolver_query *q, int status, struct res_result *res,
		   unsigned info);

/* Tell every live lookup of ch that it will not be answered. */
static void channel_abort(struct res_channel *ch)
{
	struct coop_resolver_query *q, *next;

	for (q = ch->queries; q; q = next) {
		next = q->next;
		if (!q->done)
			finish(q, -ESHUTDOWN, NULL, 0);
	}
}

void coop_resolver_release_loop(struct coop_resolver *r, struct ev_loop *loop)
{
	struct res_channel *ch;
	unsigned i;

	for (i = 0; i < r->n_slots; i++) {
		struct res_slot *s = &r->slots[i];

		if (atomic_load_explicit(&s->loop, memory_order_acquire) != loop)
			continue;
		/* Callers first (on their own thread, this one), then the
		 * channels: a callback may still look at its lookup. */
		for (ch = s->cur; ch; ch = NULL)
			channel_abort(ch);
		for (ch = s->retired; ch; ch = ch->next)
			channel_abort(ch);
		if (s->cur)
			channel_destroy(s->cur);
		s->cur = NULL;
		while (s->retired) {
			ch = s->retired;
			s->retired = ch->next;
			channel_destroy(ch);
		}
		return;
	}
}

void coop_resolver_free(struct coop_resolver *r)
{
	unsigned i;

	if (!r)
		return;
	for (i = 0; i < r->n_slots; i++) {
		struct res_slot *s = &r->slots[i];

		if (s->cur)
			channel_destroy(s->cur);
		while (s->retired) {
			struct res_channel *ch = s->retired;

			s->retired = ch->next;
			channel_destroy(ch);
		}
	}
	res_cache_free(r->cache);
	settings_put(r->set);
	pthread_mutex_destroy(&r->lock);
	free(r->slots);
	free(r);
}

/* --- lookups ---------------------------------------------------------------------- */

static void query_free(struct coop_resolver_query *q)
{
	struct res_channel *ch = q->ch;
	unsigned i;

	ev_timer_stop(ch->loop, &q->deadline);
	for (i = 0; i < 2; i++)
		res_rrset_clear(&q->wire[i].set);
	if (q->prev)
		q->prev->next = q->next;
	else
		ch->queries = q->next;
	if (q->next)
		q->next->prev = q->prev;
	ch->users--;
	if (!ch->users && !ch->destroying) {
		/* STAYOPEN keeps the UDP socket (no namespace switch per
		 * lookup) but would keep a TCP connection too, holding one of
		 * the server's few TCP slots per VS and thread: a channel that
		 * needed TCP (a truncated answer, rare) goes once idle. */
		if (ch->tcp && !ch->retired && ch->slot->cur == ch) {
			ch->slot->cur = NULL;
			channel_retire(ch);
		} else if (ch->retired) {
			ev_timer_start(ch->loop, &ch->reap);
		}
	}
	free(q);
}

/* End a lookup: count it, tell the caller (unless cancelled), and free it
 * unless c-ares still holds some of its questions. */
static void finish(struct coop_resolver_query *q, int status, struct res_result *res, unsigned info)
{
	q->done = true;
	if (q->finished)
		*q->finished = true;
	ev_timer_stop(q->ch->loop, &q->deadline);
	count_end(q->r, status, info);
	if (!q->cancelled)
		q->cb(status, res ? &res->pub : NULL, info, q->arg);
	res_result_release(res);
	if (!q->inflight)
		query_free(q);
}

static void cand_name(const struct coop_resolver_query *q, unsigned i, char *buf, size_t len)
{
	int k = q->order[i];

	if (k < 0)
		snprintf(buf, len, "%s", q->name);
	else
		snprintf(buf, len, "%s.%s", q->name, q->ch->set->conf->search[k]);
}

/* The first candidate had records: build the answer from the wires that
 * have some, cache it when the candidate is fully known, deliver it. */
static void finish_records(struct coop_resolver_query *q)
{
	struct res_wire *a = &q->wire[0], *b = q->n_wires > 1 ? &q->wire[1] : NULL;
	char name[RES_TEXT_NAME_MAX];
	struct res_result *res;
	bool complete = true;
	unsigned i;

	for (i = 0; i < q->n_wires; i++) {
		int s = q->wire[i].status;

		if (q->wire[i].busy || (s != 0 && s != -ENOENT && s != -ENODATA))
			complete = false;
	}
	cand_name(q, q->cand, name, sizeof(name));
	res = res_result_build(name, q->type, COOP_RESOLVER_SRC_DNS,
			       a->status == 0 && !a->busy ? &a->set : NULL,
			       b && b->status == 0 && !b->busy ? &b->set : NULL);
	if (!res) {
		finish(q, -ENOMEM, NULL, 0);
		return;
	}
	/* A half answer (AAAA timed out, A came) is delivered, not cached. */
	if (complete && !(q->flags & COOP_RESOLVER_F_NOCACHE))
		res_cache_put(q->r->cache, q->ch->set->gen, q->kind, q->key, 0, res, res->pub.ttl,
			      res_now_ms());
	finish(q, 0, res, 0);
}

enum cand_outcome { CAND_FINISHED, CAND_NEXT };

/* Every question of the current candidate is answered: finish, or move on
 * to the next candidate of the search list. */
static enum cand_outcome candidate_done(struct coop_resolver_query *q)
{
	int stop = 0, final;
	unsigned i;

	for (i = 0; i < q->n_wires; i++) {
		if (q->wire[i].status == 0) {
			finish_records(q);
			return CAND_FINISHED;
		}
	}
	for (i = 0; i < q->n_wires; i++) {
		const struct res_wire *w = &q->wire[i];

		if (w->status == -ENOENT || w->status == -ENODATA) {
			if (w->status == -ENODATA)
				q->saw_nodata = true;
			if (!w->has_soa)
				q->neg_ok = false;
			else if (w->neg_ttl < q->neg_ttl)
				q->neg_ttl = w->neg_ttl;
		} else if (w->status == -EAGAIN) {
			/* As c-ares and glibc: SERVFAIL on one candidate
			 * does not stop the search list. */
			q->saw_servfail = true;
			q->neg_ok = false;
		} else if (!stop) {
			stop = w->status;
		}
	}
	if (stop) {
		finish(q, stop, NULL, 0);
		return CAND_FINISHED;
	}
	if (++q->cand < q->n_cands)
		return CAND_NEXT;
	final = q->saw_nodata ? -ENODATA : q->saw_servfail ? -EAGAIN : -ENOENT;
	if (final != -EAGAIN && q->neg_ok && !(q->flags & COOP_RESOLVER_F_NOCACHE))
		res_cache_put(q->r->cache, q->ch->set->gen, q->kind, q->key, final, NULL,
			      q->neg_ttl, res_now_ms());
	finish(q, final, NULL, 0);
	return CAND_FINISHED;
}

/* What one answer says: records (0), or why not. */
static int wire_status(struct res_wire *w, int status, const unsigned char *abuf, int alen)
{
	struct res_msg_info info;
	int ret;

	if (abuf && alen > 0 &&
	    (status == ARES_SUCCESS || status == ARES_ENODATA || status == ARES_ENOTFOUND)) {
		ret = res_dns_parse(abuf, (size_t)alen, w->type, &w->set, &info);
		if (ret < 0) {
			res_rrset_clear(&w->set);
			return ret;
		}
		if (w->set.n)
			return 0;
		w->has_soa = info.has_soa;
		w->neg_ttl = info.neg_ttl;
		return info.rcode == RES_RCODE_NXDOMAIN ? -ENOENT : -ENODATA;
	}
	return status == ARES_SUCCESS ? -EBADMSG : map_ares(status);
}

static void advance(struct coop_resolver_query *q);

static void wire_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct res_wire *w = arg;
	struct coop_resolver_query *q = w->q;

	(void)timeouts;
	w->busy = false;
	q->inflight--;
	if (status == ARES_EDESTRUCTION)
		return; /* channel_destroy frees the lookup */
	if (q->done) {
		if (!q->inflight)
			query_free(q);
		return;
	}
	w->status = wire_status(w, status, abuf, alen);
	if (q->starting || q->inflight)
		return;
	if (candidate_done(q) == CAND_NEXT)
		advance(q);
}

/* Ask the questions of the current candidate. c-ares may answer some at
 * once (no server reachable, out of memory); then go on here rather than
 * from inside the callback. Returns with q possibly freed. */
static void advance(struct coop_resolver_query *q)
{
	char name[RES_TEXT_NAME_MAX];
	unsigned i;

	for (;;) {
		cand_name(q, q->cand, name, sizeof(name));
		q->starting = true;
		for (i = 0; i < q->n_wires; i++) {
			struct res_wire *w = &q->wire[i];

			res_rrset_clear(&w->set);
			w->status = -EINPROGRESS;
			w->has_soa = false;
			w->busy = true;
			q->inflight++;
			bump(&q->r->c.upstream);
			ares_query(q->ch->ares, name, RES_CLASS_IN, w->type, wire_cb, w);
		}
		q->starting = false;
		channel_rearm(q->ch);
		if (q->inflight || q->done)
			return;
		if (candidate_done(q) == CAND_FINISHED)
			return;
	}
}

static void deadline_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct coop_resolver_query *q = container_of(t, struct coop_resolver_query, deadline);
	unsigned i;

	(void)loop;
	(void)revents;
	for (i = 0; i < q->n_wires; i++) {
		if (!q->wire[i].busy && q->wire[i].status == 0) {
			finish_records(q);
			return;
		}
	}
	finish(q, -ETIMEDOUT, NULL, 0);
}

static uint32_t kind_of(uint16_t type, int family, unsigned flags)
{
	uint32_t k = type;

	if (!type)
		k = KIND_ADDR |
		    (family == AF_INET	  ? 1u
		     : family == AF_INET6 ? 2u
					  : 3u) |
		    (flags & COOP_RESOLVER_F_V4FIRST ? 4u : 0u);
	if (flags & COOP_RESOLVER_F_NOSEARCH)
		k |= KIND_NOSEARCH;
	return k;
}

/* Push one address record for an answer made locally (hosts file, literal). */
static int push_addr(struct res_rrset *s, const char *name, const struct coop_resolver_addr *a)
{
	struct coop_resolver_rr rr;
	size_t n = a->family == AF_INET ? 4 : 16;
	unsigned char *rd = res_arena_alloc(&s->arena, n);

	memset(&rr, 0, sizeof(rr));
	rr.name = res_arena_strdup(&s->arena, name);
	if (!rd || !rr.name)
		return -ENOMEM;
	memcpy(rd, a->family == AF_INET ? (const void *)&a->v4 : (const void *)&a->v6, n);
	rr.type = a->family == AF_INET ? COOP_DNS_A : COOP_DNS_AAAA;
	rr.rclass = RES_CLASS_IN;
	rr.addr = *a;
	rr.rdata = rd;
	rr.rdlen = n;
	return res_rrset_push(s, &rr);
}

/* Addresses in the caller's order: IPv6 first unless V4FIRST. */
static int push_addrs(struct res_rrset *s, const char *name, const struct coop_resolver_addr *a,
		      size_t n, unsigned flags)
{
	int first = flags & COOP_RESOLVER_F_V4FIRST ? AF_INET : AF_INET6;
	size_t i;
	int pass, ret;

	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < n; i++) {
			if ((a[i].family == first) != (pass == 0))
				continue;
			ret = push_addr(s, name, &a[i]);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

/* An answer known without asking: a literal address or the hosts file.
 * name has no final dot. Returns the status to deliver with *res, or 1
 * when the DNS must be asked. */
static int answer_locally(const char *name, uint16_t type, int family, unsigned flags,
			  const struct res_settings *set, struct res_result **res)
{
	struct coop_resolver_addr addrs[HOSTS_ANSWER_MAX], lit, a;
	enum coop_resolver_source src = COOP_RESOLVER_SRC_LITERAL;
	const char *canon = NULL;
	struct coop_resolver_rr rr;
	struct res_rrset s;
	size_t n = 0;

	memset(&lit, 0, sizeof(lit));
	if (!type && inet_pton(AF_INET, name, &lit.v4) == 1)
		lit.family = AF_INET;
	else if (!type && inet_pton(AF_INET6, name, &lit.v6) == 1)
		lit.family = AF_INET6;
	if (lit.family) {
		if (family != AF_UNSPEC && family != lit.family)
			return -ENODATA;
		addrs[n++] = lit;
	} else if ((flags & COOP_RESOLVER_F_NOHOSTS) || !set->hosts) {
		return 1;
	} else if (!type) {
		src = COOP_RESOLVER_SRC_HOSTS;
		n = res_hosts_addrs(set->hosts, name, family, addrs, HOSTS_ANSWER_MAX, &canon);
		if (n > HOSTS_ANSWER_MAX)
			n = HOSTS_ANSWER_MAX;
	} else if (type == COOP_DNS_PTR && res_ptr_name_parse(name, &a) &&
		   (canon = res_hosts_name(set->hosts, &a))) {
		src = COOP_RESOLVER_SRC_HOSTS;
	} else {
		return 1;
	}
	if (!n && !canon)
		return 1;
	res_rrset_init(&s);
	if (type == COOP_DNS_PTR) {
		memset(&rr, 0, sizeof(rr));
		rr.name = res_arena_strdup(&s.arena, name);
		rr.target = res_arena_strdup(&s.arena, canon);
		rr.type = COOP_DNS_PTR;
		rr.rclass = RES_CLASS_IN;
		if (!rr.name || !rr.target || res_rrset_push(&s, &rr) < 0)
			goto err_nomem;
		canon = NULL; /* the PTR's owner is the reverse name itself */
	} else if (push_addrs(&s, name, addrs, n, flags) < 0) {
		goto err_nomem;
	}
	if (canon) {
		s.canonical = res_arena_strdup(&s.arena, canon);
		if (!s.canonical)
			goto err_nomem;
	}
	s.ttl = 0;
	*res = res_result_build(name, type, src, &s, NULL);
	if (!*res)
		goto err_nomem;
	return 0;

err_nomem:
	res_rrset_clear(&s);
	return -ENOMEM;
}

/* Deliver an answer found before any question was asked. */
static void deliver_now(struct coop_resolver *r, int status, struct res_result *res, unsigned info,
			coop_resolver_cb cb, void *arg)
{
	count_end(r, status, info);
	cb(status, res ? &res->pub : NULL, info, arg);
	res_result_release(res);
}

/* The candidate names of the search list, in the order resolv.conf(5) gives. */
static void plan(struct coop_resolver_query *q, const struct coop_resolver_conf *conf,
		 bool absolute)
{
	size_t len = strlen(q->name), dots = 0, i;
	unsigned k;

	q->n_cands = 0;
	if (absolute || (q->flags & COOP_RESOLVER_F_NOSEARCH) || !conf->n_search) {
		q->order[q->n_cands++] = -1;
		return;
	}
	for (i = 0; i < len; i++)
		dots += q->name[i] == '.';
	if (dots >= conf->ndots)
		q->order[q->n_cands++] = -1;
	for (k = 0; k < conf->n_search; k++)
		if (len + 1 + strlen(conf->search[k]) <= 253)
			q->order[q->n_cands++] = (signed char)k;
	if (dots < conf->ndots)
		q->order[q->n_cands++] = -1;
}

static int start(struct coop_resolver *r, struct ev_loop *loop, const char *name, int family,
		 uint16_t type, unsigned flags, coop_resolver_cb cb, void *arg,
		 struct coop_resolver_query **out)
{
	char bare[COOP_RESOLVER_NAME_MAX];
	struct coop_resolver_query *q;
	struct res_result *res = NULL;
	struct res_channel *ch;
	struct res_slot *slot;
	bool absolute, finished = false;
	uint32_t kind;
	size_t len;
	int ret = 0, status;
	unsigned i;

	if (out)
		*out = NULL;
	if (!r || !name || !cb || (flags & ~ALL_FLAGS))
		return -EINVAL;
	if (!loop) {
		struct coop_worker *w = coop_worker_self();

		if (!w)
			return -EPERM;
		loop = w->loop;
	}
	bump(&r->c.queries);
	if (atomic_load_explicit(&r->closed, memory_order_acquire)) {
		bump(&r->c.failures);
		return -ESHUTDOWN;
	}
	if (!res_name_valid(name)) {
		bump(&r->c.failures);
		return -EINVAL;
	}
	slot = slot_for(r, loop);
	if (!slot) {
		bump(&r->c.failures);
		return -ENOSPC;
	}
	ch = channel_get(r, slot, loop, &ret);
	if (!ch) {
		bump(&r->c.failures);
		return ret;
	}
	len = strlen(name);
	absolute = name[len - 1] == '.';
	snprintf(bare, sizeof(bare), "%.*s", (int)(absolute ? len - 1 : len), name);
	kind = kind_of(type, family, flags);

	/* Literal address, hosts file, cache: answered before returning. */
	status = answer_locally(bare, type, family, flags, ch->set, &res);
	if (status <= 0) {
		deliver_now(r, status, res, 0, cb, arg);
		return 0;
	}
	if (!(flags & COOP_RESOLVER_F_NOCACHE) &&
	    res_cache_get(r->cache, kind, name, res_now_ms(), &status, &res)) {
		deliver_now(r, status, res, COOP_RESOLVER_I_CACHED, cb, arg);
		return 0;
	}

	q = calloc(1, sizeof(*q));
	if (!q) {
		bump(&r->c.failures);
		return -ENOMEM;
	}
	q->r = r;
	q->ch = ch;
	q->cb = cb;
	q->arg = arg;
	q->flags = flags;
	q->family = family;
	q->type = type;
	q->kind = kind;
	snprintf(q->key, sizeof(q->key), "%s", name);
	snprintf(q->name, sizeof(q->name), "%s", bare);
	plan(q, ch->set->conf, absolute);
	q->neg_ok = true;
	q->neg_ttl = RES_TTL_CAP;
	for (i = 0; i < 2; i++) {
		q->wire[i].q = q;
		res_rrset_init(&q->wire[i].set);
	}
	if (type) {
		q->n_wires = 1;
		q->wire[0].type = type;
	} else if (family == AF_INET || family == AF_INET6) {
		q->n_wires = 1;
		q->wire[0].type = family == AF_INET ? COOP_DNS_A : COOP_DNS_AAAA;
	} else {
		bool v4first = flags & COOP_RESOLVER_F_V4FIRST;

		q->n_wires = 2;
		q->wire[0].type = v4first ? COOP_DNS_A : COOP_DNS_AAAA;
		q->wire[1].type = v4first ? COOP_DNS_AAAA : COOP_DNS_A;
	}
	q->next = ch->queries;
	if (ch->queries)
		ch->queries->prev = q;
	ch->queries = q;
	ch->users++;
	ev_timer_init(&q->deadline, deadline_cb, ch->set->deadline, 0.);
	ev_timer_start(loop, &q->deadline);
	/* Every question may fail at once (no server reachable): then the
	 * callback runs inside advance() and q is gone when it returns. */
	q->finished = &finished;
	advance(q);
	if (!finished) {
		q->finished = NULL;
		if (out)
			*out = q;
	}
	return 0;
}

int coop_resolver_resolve(struct coop_resolver *r, struct ev_loop *loop, const char *name,
			  int family, unsigned flags, coop_resolver_cb cb, void *arg,
			  struct coop_resolver_query **out)
{
	if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6) {
		if (out)
			*out = NULL;
		return -EINVAL;
	}
	return start(r, loop, name, family, 0, flags, cb, arg, out);
}

int coop_resolver_query(struct coop_resolver *r, struct ev_loop *loop, const char *name,
			uint16_t type, unsigned flags, coop_resolver_cb cb, void *arg,
			struct coop_resolver_query **out)
{
	if (!type) {
		if (out)
			*out = NULL;
		return -EINVAL;
	}
	return start(r, loop, name, AF_UNSPEC, type, flags, cb, arg, out);
}

void coop_resolver_cancel(struct coop_resolver_query *q)
{
	if (!q || q->done)
		return;
	q->cancelled = true;
	q->done = true;
	ev_timer_stop(q->ch->loop, &q->deadline);
	bump(&q->r->c.cancelled);
	if (!q->inflight)
		query_free(q);
}
