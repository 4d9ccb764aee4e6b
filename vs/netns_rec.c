/* netns_rec.c - the records of netns VSes' kernel state: the text form of
 * one record, the append-only log of each coopd process that holds them,
 * the in-memory index of those logs with its lock, and the owners'
 * liveness (pid + start time). */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/hash.h"
#include "base/log.h"
#include "vs/netns_rec.h"

#define REC_MAGIC "coop-netns 1"

/* --- text form ----------------------------------------------------------- */

int coop_netns_rec_format(const struct coop_netns_rec *r, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	size_t o = 0, i;

#define PUT(...)                                                              \
	do {                                                                  \
		int n_ = snprintf(buf + o, o < len ? len - o : 0, __VA_ARGS__); \
		o += n_ > 0 ? (size_t)n_ : 0;                                 \
	} while (0)
	PUT("%s\nowner %ld %llu\nnamespace %s\nns_ino %llu\ncreated %d\n", REC_MAGIC, r->pid,
	    r->start, r->ns, r->ns_ino, r->created);
	if (r->ifname[0])
		PUT("interface %s\nmoved %d\nwas_up %d\nset_up %d\n", r->ifname, r->moved,
		    r->was_up, r->set_up);
	for (i = 0; i < r->n_addrs; i++)
		PUT("addr %s %s/%u\n", r->addrs[i].ifname, coop_addr_str(&r->addrs[i].addr, a, sizeof(a)),
		    r->addrs[i].len);
	for (i = 0; i < r->n_routes; i++)
		PUT("route %s %s\n", coop_addr_str(&r->routes[i].gw, a, sizeof(a)),
		    r->routes[i].ifname[0] ? r->routes[i].ifname : "-");
	PUT("end\n");
#undef PUT
	return o < len ? (int)o : -ENOSPC;
}

static int __attribute__((format(printf, 4, 5)))
bad(char *why, size_t whylen, unsigned line, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(what, sizeof(what), fmt, ap);
		va_end(ap);
		snprintf(why, whylen, "line %u: %s", line, what);
	}
	return -EBADMSG;
}

/* "0" or "1". */
static int flag(const char *v, bool *out)
{
	if (strcmp(v, "0") && strcmp(v, "1"))
		return -EINVAL;
	*out = v[0] == '1';
	return 0;
}

/* A namespace name as records carry it: a name without '/', or an
 * absolute path; no blanks (entries are split on them). */
static bool ns_ok(const char *s)
{
	return *s && strlen(s) < COOP_NAME_MAX && !strpbrk(s, " \t") &&
	       (s[0] == '/' || !strchr(s, '/'));
}

/* One "key value..." line (NUL-terminated, no newline) into r. */
static int parse_line(char *l, unsigned n, struct coop_netns_rec *r, bool *seen_owner,
		      bool *seen_ns, char *why, size_t whylen)
{
	char *v = strchr(l, ' '), extra;
	struct coop_prefix *p;

	if (!v)
		return bad(why, whylen, n, "'%s' has no value", l);
	*v++ = '\0';
	if (!strcmp(l, "owner")) {
		if (sscanf(v, "%ld %llu %c", &r->pid, &r->start, &extra) != 2 || r->pid <= 0)
			return bad(why, whylen, n, "owner '%s' is not 'PID STARTTIME'", v);
		*seen_owner = true;
	} else if (!strcmp(l, "namespace")) {
		if (!ns_ok(v))
			return bad(why, whylen, n, "bad namespace '%s'", v);
		strcpy(r->ns, v);
		*seen_ns = true;
	} else if (!strcmp(l, "ns_ino")) {
		if (sscanf(v, "%llu %c", &r->ns_ino, &extra) != 1 || !isdigit((unsigned char)*v))
			return bad(why, whylen, n, "bad ns_ino '%s'", v);
	} else if (!strcmp(l, "created") || !strcmp(l, "moved") || !strcmp(l, "was_up") ||
		   !strcmp(l, "set_up")) {
		bool *f = !strcmp(l, "created") ? &r->created :
			  !strcmp(l, "moved")	? &r->moved :
			  !strcmp(l, "was_up")	? &r->was_up :
						  &r->set_up;

		if (flag(v, f) < 0)
			return bad(why, whylen, n, "%s '%s' is not 0 or 1", l, v);
	} else if (!strcmp(l, "interface")) {
		if (!coop_cfg_ifname_ok(v))
			return bad(why, whylen, n, "bad interface name '%s'", v);
		strcpy(r->ifname, v);
	} else if (!strcmp(l, "addr")) {
		char *pfx = strchr(v, ' ');

		if (!pfx)
			return bad(why, whylen, n, "addr '%s' is not 'LINK ADDR/LEN'", v);
		*pfx++ = '\0';
		p = &r->addrs[r->n_addrs];
		if (!coop_cfg_ifname_ok(v) || coop_prefix_parse(pfx, true, p) < 0)
			return bad(why, whylen, n, "addr '%s %s' is not 'LINK ADDR/LEN'", v, pfx);
		strcpy(p->ifname, v);
		r->n_addrs++;
	} else if (!strcmp(l, "route")) {
		struct coop_netns_rec_route *rt = &r->routes[r->n_routes];
		char *dev = strchr(v, ' ');

		if (r->n_routes == sizeof(r->routes) / sizeof(r->routes[0]))
			return bad(why, whylen, n, "too many routes");
		if (dev)
			*dev++ = '\0';
		if (!dev || coop_addr_parse(v, &rt->gw) < 0 ||
		    (strcmp(dev, "-") && !coop_cfg_ifname_ok(dev)))
			return bad(why, whylen, n, "route '%s %s' is not 'GATEWAY LINK|-'", v,
				   dev ? dev : "");
		snprintf(rt->ifname, sizeof(rt->ifname), "%s", strcmp(dev, "-") ? dev : "");
		r->n_routes++;
	} else {
		return bad(why, whylen, n, "unknown key '%s'", l);
	}
	return 0;
}

/* coop_netns_rec_parse of a record whose first line is line first of its
 * log, so that errors name the line of the file. */
static int parse_at(const char *text, size_t len, struct coop_netns_rec *r, char *why,
		    size_t whylen, unsigned first)
{
	bool seen_owner = false, seen_ns = false, ended = false;
	size_t n_addr = 0, i;
	unsigned line = first - 1;
	char *copy, *l, *next;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	if (memchr(text, '\0', len))
		return bad(why, whylen, first, "binary data (a NUL byte)");
	copy = strndup(text, len);
	if (!copy)
		return -ENOMEM;
	for (i = 0; i + 5 <= len; i++)
		if (!strncmp(text + i, "addr ", 5) && (i == 0 || text[i - 1] == '\n'))
			n_addr++;
	r->addrs = n_addr ? calloc(n_addr, sizeof(*r->addrs)) : NULL;
	if (n_addr && !r->addrs) {
		free(copy);
		return -ENOMEM;
	}
	for (l = copy; l && *l && rc == 0; l = next) {
		next = strchr(l, '\n');
		line++;
		if (!next) {
			rc = bad(why, whylen, line, "unterminated (the record is truncated)");
			break;
		}
		*next++ = '\0';
		if (ended)
			rc = bad(why, whylen, line, "data after 'end'");
		else if (line == first && strcmp(l, REC_MAGIC))
			rc = bad(why, whylen, line, "not a coop netns record (expected '%s')",
				 REC_MAGIC);
		else if (line == first)
			continue;
		else if (!strcmp(l, "end"))
			ended = true;
		else
			rc = parse_line(l, line, r, &seen_owner, &seen_ns, why, whylen);
	}
	free(copy);
	if (rc == 0 && line == first - 1)
		rc = bad(why, whylen, first, "empty");
	else if (rc == 0 && !ended)
		rc = bad(why, whylen, line, "no 'end' line (the record is truncated)");
	else if (rc == 0 && (!seen_owner || !seen_ns))
		rc = bad(why, whylen, line, "no '%s' line", seen_owner ? "namespace" : "owner");
	else if (rc == 0 && (r->moved || r->set_up || r->was_up) && !r->ifname[0])
		rc = bad(why, whylen, line, "moved/set_up without an interface");
	return rc;
}

int coop_netns_rec_parse(const char *text, size_t len, struct coop_netns_rec *r, char *why,
			 size_t whylen)
{
	return parse_at(text, len, r, why, whylen, 1);
}

void coop_netns_rec_free(struct coop_netns_rec *r)
{
	free(r->addrs);
	r->addrs = NULL;
	r->n_addrs = 0;
}

/* --- the store: logs, index, lock ------------------------------------------ */

/* One log file: the entries of one coopd process. */
struct log {
	char name[48];            /* file name, "coopd.PID.START" */
	long pid;                 /* its owner, from the name... */
	unsigned long long start; /* ...with its start time */
	bool self;                /* this process's log */
	int fd;                   /* this process's log: open for appending
				   * (-1 until the first write); others: -1 */
	unsigned long long ino;   /* inode read (a rewritten log is a new
				   * file, read again whole), 0 = not read */
	off_t end;                /* end of the last whole entry */
	unsigned lines;           /* lines up to end */
	bool torn;                /* bytes after end: a truncated last entry */
	unsigned bad_line;        /* first line of a corrupt entry that names no
				   * namespace, 0 = none */
	char *bad_why;            /* ...what is wrong with it */
	size_t live;              /* namespaces whose latest entry here is a
				   * record (or a corrupt one) */
	size_t live_bytes;        /* the size of those records */
	bool seen;                /* found by the last directory scan */
	struct log *next;
};

/* The latest entry of one namespace in one log, unless it is "gone". */
struct ent {
	char *ns;         /* the namespace */
	struct log *log;  /* the log it is in */
	char *text;       /* the record as written, NULL when corrupt */
	size_t len;
	unsigned line;    /* its first line in the log */
	char *why;        /* corrupt: "line N: what", else NULL */
	struct ent *next; /* hash chain */
};

/* Everything the module knows; one per process. */
static struct {
	bool forked;       /* this is a forked child of the process the state
			    * belongs to: its log is another, it starts afresh */
	char dir[128];     /* the store it describes */
	int lock_fd;       /* DIR/.lock, -1 = not open */
	unsigned depth;    /* nesting of coop_netns_rec_begin */
	struct log *logs;  /* every log known */
	struct ent **tab;  /* index: hash of the namespace -> entries */
	size_t n_buckets;  /* a power of two, or 0 */
	size_t n_ents;
} store = { .lock_fd = -1 };

/* Start time and pid of this process, read once (pid 0: not yet). */
static unsigned long long self_start;
static long self_pid;

/* In a forked child, the caches describe the parent. Checking getpid()
 * at every call instead would cost a system call (a microsecond here)
 * several times per VS. */
static void fork_child(void)
{
	self_pid = 0;
	store.forked = true;
}

static void watch_fork(void)
{
	static bool watching;

	if (!watching)
		watching = pthread_atfork(NULL, NULL, fork_child) == 0;
}

/* Longest wait for another process's lock. */
#define LOCK_WAIT_MS 10000
/* This process's log is rewritten with its current records alone when it
 * is larger than COMPACT_MIN and than COMPACT_RATIO times them. */
#define COMPACT_MIN 65536
#define COMPACT_RATIO 4

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

static unsigned count_lines(const char *s, size_t len)
{
	const char *e = s + len;
	unsigned n = 0;

	while (s < e && (s = memchr(s, '\n', (size_t)(e - s)))) {
		n++;
		s++;
	}
	return n;
}

static void log_path(const struct log *lg, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", store.dir, lg->name);
}

int coop_netns_rec_log_path(const char *dir, long pid, unsigned long long start, char *buf,
			    size_t len)
{
	return (size_t)snprintf(buf, len, "%s/coopd.%ld.%llu", dir, pid, start) >= len ?
		       -ENAMETOOLONG :
		       0;
}

/* --- index ---------------------------------------------------------------- */

static size_t hash(const char *s)
{
	return (size_t)coop_fnv64(COOP_FNV64_INIT, s, strlen(s));
}

static struct ent **bucket(const char *ns)
{
	return &store.tab[hash(ns) & (store.n_buckets - 1)];
}

static int tab_grow(void)
{
	size_t n = store.n_buckets ? store.n_buckets * 2 : 256, i;
	struct ent **tab = calloc(n, sizeof(*tab)), *e, *next;

	if (!tab)
		return -ENOMEM;
	for (i = 0; i < store.n_buckets; i++) {
		for (e = store.tab[i]; e; e = next) {
			next = e->next;
			e->next = tab[hash(e->ns) & (n - 1)];
			tab[hash(e->ns) & (n - 1)] = e;
		}
	}
	free(store.tab);
	store.tab = tab;
	store.n_buckets = n;
	return 0;
}

static struct ent **ent_slot(const char *ns, const struct log *lg)
{
	struct ent **p;

	if (!store.n_buckets)
		return NULL;
	for (p = bucket(ns); *p; p = &(*p)->next)
		if ((*p)->log == lg && !strcmp((*p)->ns, ns))
			return p;
	return NULL;
}

static void ent_free(struct ent *e)
{
	e->log->live--;
	e->log->live_bytes -= e->len;
	store.n_ents--;
	free(e->ns);
	free(e->text);
	free(e->why);
	free(e);
}

static void ent_del(const char *ns, const struct log *lg)
{
	struct ent **p = ent_slot(ns, lg), *e;

	if (!p)
		return;
	e = *p;
	*p = e->next;
	ent_free(e);
}

/* Make text (a record) or why (a corrupt entry) the entry of ns in lg. */
static int ent_set(const char *ns, struct log *lg, const char *text, size_t len, unsigned line,
		   const char *why)
{
	struct ent **p, *e;
	char *t = NULL, *w = NULL;

	if (text && !(t = malloc(len)))
		return -ENOMEM;
	if (text)
		memcpy(t, text, len);
	if (why && !(w = strdup(why))) {
		free(t);
		return -ENOMEM;
	}
	p = ent_slot(ns, lg);
	if (p) {
		e = *p;
		free(e->text);
		free(e->why);
		lg->live_bytes -= e->len;
	} else {
		if (store.n_ents >= store.n_buckets && tab_grow() < 0)
			goto err_free;
		e = calloc(1, sizeof(*e));
		if (!e || !(e->ns = strdup(ns))) {
			free(e);
			goto err_free;
		}
		e->log = lg;
		e->next = *bucket(ns);
		*bucket(ns) = e;
		store.n_ents++;
		lg->live++;
	}
	e->text = t;
	e->len = text ? len : 0;
	e->why = w;
	e->line = line;
	lg->live_bytes += e->len;
	return 0;

err_free:
	free(t);
	free(w);
	return -ENOMEM;
}

/* Drop every entry of lg (it is gone, or about to be read again). */
static void ents_drop(const struct log *lg)
{
	struct ent **p, *e;
	size_t i;

	for (i = 0; i < store.n_buckets; i++) {
		for (p = &store.tab[i]; (e = *p);) {
			if (e->log == lg) {
				*p = e->next;
				ent_free(e);
			} else {
				p = &e->next;
			}
		}
	}
}

static void log_reset(struct log *lg)
{
	ents_drop(lg);
	lg->end = 0;
	lg->lines = 0;
	lg->torn = false;
	lg->bad_line = 0;
	free(lg->bad_why);
	lg->bad_why = NULL;
}

static void log_free(struct log *lg)
{
	struct log **p;

	for (p = &store.logs; *p; p = &(*p)->next) {
		if (*p == lg) {
			*p = lg->next;
			break;
		}
	}
	ents_drop(lg);
	if (lg->fd >= 0)
		close(lg->fd);
	free(lg->bad_why);
	free(lg);
}

/* --- reading logs ----------------------------------------------------------- */

static bool log_owner_alive(const struct log *lg)
{
	struct coop_netns_rec r = { .pid = lg->pid, .start = lg->start };

	return lg->self || coop_netns_rec_owner_alive(&r);
}

/* A corrupt entry that names no namespace: it may have superseded any
 * entry of lg before it, so those are refused too (see coop_netns_rec_read). */
static void log_bad(struct log *lg, unsigned line, const char *why)
{
	char path[256];

	if (lg->bad_line)
		return;
	lg->bad_line = line;
	lg->bad_why = strdup(why);
	log_path(lg, path, sizeof(path));
	coop_warn("record %s is corrupt: %s; coop leaves alone the namespaces it records before line %u",
		  path, why, line);
}

/* The namespace named by a corrupt record, if a line says it. */
static bool entry_ns(const char *text, size_t len, char *ns, size_t nslen)
{
	const char *p = text, *e = text + len, *nl;

	for (; p < e && (nl = memchr(p, '\n', (size_t)(e - p))); p = nl + 1) {
		if ((size_t)(nl - p) > 10 && !strncmp(p, "namespace ", 10) &&
		    (size_t)(nl - p - 10) < nslen) {
			snprintf(ns, nslen, "%.*s", (int)(nl - p - 10), p + 10);
			return ns_ok(ns);
		}
	}
	return false;
}

/* One whole record (text, len; first line: line) of lg into the index. */
static int read_record(struct log *lg, const char *text, size_t len, unsigned line)
{
	struct coop_netns_rec r;
	char why[256], ns[COOP_NAME_MAX];
	int rc;

	rc = parse_at(text, len, &r, why, sizeof(why), line);
	if (rc == 0 && (r.pid != lg->pid || r.start != lg->start)) {
		snprintf(why, sizeof(why),
			 "line %u: a record of owner %ld %llu in the log of another", line, r.pid,
			 r.start);
		rc = -EBADMSG;
	}
	if (rc == 0)
		rc = ent_set(r.ns, lg, text, len, line, NULL);
	else if (rc == -EBADMSG && (r.ns[0] || entry_ns(text, len, ns, sizeof(ns))))
		rc = ent_set(r.ns[0] ? r.ns : ns, lg, NULL, 0, line, why);
	else if (rc == -EBADMSG)
		log_bad(lg, line, why);
	coop_netns_rec_free(&r);
	return rc == -EBADMSG ? 0 : rc;
}

/* "gone NAME" (l, n bytes, no newline): NAME into ns. */
static bool gone_line(const char *l, size_t n, char *ns, size_t nslen)
{
	if (n <= 5 || memcmp(l, "gone ", 5) || n - 5 >= nslen)
		return false;
	snprintf(ns, nslen, "%.*s", (int)(n - 5), l + 5);
	return ns_ok(ns);
}

/* Entries of lg in buf (its bytes from lg->end on): index them, advance
 * lg->end over every whole one. What follows the last one is torn. */
static int parse_log(struct log *lg, const char *buf, size_t len)
{
	const size_t magic = sizeof(REC_MAGIC) - 1;
	const off_t base = lg->end;
	unsigned line = lg->lines + 1, k;
	char why[160], ns[COOP_NAME_MAX];
	size_t p = 0, q, n;
	const char *nl;
	int rc = 0;

	while (rc == 0 && p < len && (nl = memchr(buf + p, '\n', len - p))) {
		n = (size_t)(nl - buf) - p; /* length of this line */
		if (n == magic && !memcmp(buf + p, REC_MAGIC, magic)) {
			/* a record: up to its "end" line */
			k = 0;
			for (q = p; (nl = memchr(buf + q, '\n', len - q));
			     q = (size_t)(nl - buf) + 1) {
				k++;
				if ((size_t)(nl - buf) - q == 3 && !memcmp(buf + q, "end", 3))
					break;
			}
			if (!nl)
				break; /* torn */
			q = (size_t)(nl - buf) + 1;
			rc = read_record(lg, buf + p, q - p, line);
			line += k;
			p = q;
		} else {
			if (gone_line(buf + p, n, ns, sizeof(ns))) {
				ent_del(ns, lg);
			} else {
				snprintf(why, sizeof(why),
					 "line %u: '%.*s' is neither a record nor a 'gone' line",
					 line, (int)(n < 40 ? n : 40), buf + p);
				log_bad(lg, line, why);
			}
			line++;
			p += n + 1;
		}
		lg->end = base + (off_t)p;
		lg->lines = line - 1;
	}
	lg->torn = p < len;
	return rc;
}

/* Read what lg gained since it was last read (all of it the first time, or
 * when it is another file now). 0, -ENOENT when it is gone, or -errno. */
static int log_refresh(struct log *lg)
{
	char path[256], *buf;
	struct stat sb;
	ssize_t got = 0, r;
	size_t len;
	int fd, rc;
	bool was_torn = lg->torn;

	log_path(lg, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0) {
		rc = -errno;
		goto out;
	}
	if ((unsigned long long)sb.st_ino != lg->ino || sb.st_size < lg->end) {
		log_reset(lg);
		was_torn = false;
		lg->ino = (unsigned long long)sb.st_ino;
	}
	rc = 0;
	if (sb.st_size == lg->end)
		goto out;
	len = (size_t)(sb.st_size - lg->end);
	buf = malloc(len);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	while ((size_t)got < len &&
	       (r = pread(fd, buf + got, len - (size_t)got, lg->end + got)) > 0)
		got += r;
	rc = got == (ssize_t)len ? parse_log(lg, buf, len) : -EIO;
	free(buf);
	if (rc == 0 && lg->torn && !was_torn)
		coop_warn("%s: line %u: a truncated last entry is ignored (its writer died writing it, before acting on it)",
			  path, lg->lines + 1);
out:
	close(fd);
	return rc;
}

static struct log *log_find(long pid, unsigned long long start)
{
	struct log *lg;

	for (lg = store.logs; lg; lg = lg->next)
		if (lg->pid == pid && lg->start == start)
			return lg;
	return NULL;
}

static struct log *log_new(long pid, unsigned long long start, bool self)
{
	struct log *lg = calloc(1, sizeof(*lg));

	if (!lg)
		return NULL;
	snprintf(lg->name, sizeof(lg->name), "coopd.%ld.%llu", pid, start);
	lg->pid = pid;
	lg->start = start;
	lg->self = self;
	lg->fd = -1;
	lg->next = store.logs;
	store.logs = lg;
	return lg;
}

/* "coopd.PID.START" exactly. */
static bool log_name(const char *name, long *pid, unsigned long long *start)
{
	char back[48];

	if (sscanf(name, "coopd.%ld.%llu", pid, start) != 2 || *pid <= 0)
		return false;
	snprintf(back, sizeof(back), "coopd.%ld.%llu", *pid, *start);
	return !strcmp(back, name);
}

static int own_rewrite(struct log *lg);

/* ".coopd.PID.START.new": what a process that died rewriting its log
 * left (the log itself is whole: the rename had not happened). */
static bool tmp_dead(const char *name)
{
	struct coop_netns_rec r = { .pid = 0 };
	char log[48];
	size_t n = strlen(name);

	if (n < 5 || n - 5 >= sizeof(log) || strcmp(name + n - 4, ".new"))
		return false;
	snprintf(log, sizeof(log), "%.*s", (int)(n - 5), name + 1);
	return log_name(log, &r.pid, &r.start) && !coop_netns_rec_owner_alive(&r);
}

/* Bring the index up to date with the directory: new logs read whole,
 * known ones from where they were left, vanished ones forgotten; a dead
 * owner's log with nothing current in it is removed. */
static int scan(char *err, size_t errlen)
{
	struct coop_netns_rec me = { .pid = 0 };
	struct log *lg, *next;
	unsigned long long start;
	char path[256];
	struct dirent *de;
	long pid;
	DIR *d;
	int rc;

	rc = coop_netns_rec_set_owner(&me);
	if (rc < 0) {
		snprintf(err, errlen, "start time of this process: %s", strerror(-rc));
		return rc;
	}
	d = opendir(store.dir);
	if (!d) {
		rc = -errno;
		snprintf(err, errlen, "cannot read the record directory %s: %s", store.dir,
			 strerror(-rc));
		return rc;
	}
	for (lg = store.logs; lg; lg = lg->next)
		lg->seen = false;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' && tmp_dead(de->d_name)) {
			snprintf(path, sizeof(path), "%s/%s", store.dir, de->d_name);
			unlink(path);
		}
		if (!log_name(de->d_name, &pid, &start))
			continue; /* ".lock", a rewrite's temporary file */
		lg = log_find(pid, start);
		if (!lg && !(lg = log_new(pid, start, pid == me.pid && start == me.start))) {
			rc = -ENOMEM;
			break;
		}
		lg->seen = true;
		/* Nobody else appends to this process's log once read. */
		if (lg->self && lg->ino)
			continue;
		rc = log_refresh(lg);
		if (rc == -ENOENT) {
			lg->seen = false;
			rc = 0;
		}
		if (rc < 0)
			break;
	}
	closedir(d);
	if (rc < 0) {
		snprintf(err, errlen, "cannot read the records in %s: %s", store.dir,
			 strerror(-rc));
		return rc;
	}
	for (lg = store.logs; lg; lg = next) {
		next = lg->next;
		log_path(lg, path, sizeof(path));
		if (!lg->seen && lg->self && lg->live) {
			/* Removed under us (by hand): write it again. */
			coop_warn("%s was removed; written again", path);
			if (lg->fd >= 0)
				close(lg->fd);
			lg->fd = -1;
			own_rewrite(lg);
		} else if (!lg->seen) {
			log_free(lg);
		} else if (!lg->self && !lg->live && !lg->bad_line && !log_owner_alive(lg)) {
			if (unlink(path) == 0 || errno == ENOENT)
				log_free(lg);
		}
	}
	return 0;
}

/* --- lock ------------------------------------------------------------------- */

static int dir_make(const char *dir)
{
	char parent[sizeof(store.dir)];
	char *slash;

	if (mkdir(dir, 0700) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return -errno;
	/* /run/coop itself may be missing (the pbr backend shares it). */
	snprintf(parent, sizeof(parent), "%s", dir);
	slash = strrchr(parent, '/');
	if (!slash || slash == parent)
		return -ENOENT;
	*slash = '\0';
	if (mkdir(parent, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Forget everything; child: the descriptors are shared with the parent,
 * whose lock must not be released. */
static void forget(bool child)
{
	while (store.logs)
		log_free(store.logs);
	free(store.tab);
	store.tab = NULL;
	store.n_buckets = 0;
	if (store.lock_fd >= 0) {
		if (store.depth && !child)
			flock(store.lock_fd, LOCK_UN);
		close(store.lock_fd);
	}
	store.lock_fd = -1;
	store.depth = 0;
	store.dir[0] = '\0';
}

static int lock_take(char *err, size_t errlen)
{
	char path[sizeof(store.dir) + 8];
	struct timespec pause = { .tv_nsec = 10 * 1000 * 1000 };
	int rc, waited;

	rc = dir_make(store.dir);
	if (rc < 0) {
		snprintf(err, errlen, "cannot make the record directory %s: %s", store.dir,
			 strerror(-rc));
		return rc;
	}
	snprintf(path, sizeof(path), "%s/.lock", store.dir);
	if (store.lock_fd < 0)
		store.lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (store.lock_fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(-rc));
		return rc;
	}
	for (waited = 0; flock(store.lock_fd, LOCK_EX | LOCK_NB) < 0; waited += 10) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK || waited >= LOCK_WAIT_MS) {
			rc = errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
			snprintf(err, errlen, "cannot lock %s: %s", path,
				 rc == -ETIMEDOUT ? "another coopd holds it for more than 10 s" :
						    strerror(-rc));
			return rc;
		}
		nanosleep(&pause, NULL);
	}
	return 0;
}

int coop_netns_rec_begin(const char *dir, char *err, size_t errlen)
{
	int rc;

	watch_fork();
	if (store.forked) {
		forget(true);
		store.forked = false;
	}
	if (strcmp(store.dir, dir)) {
		if (store.depth) {
			snprintf(err, errlen, "record directory %s: %s is in use", dir, store.dir);
			return -EBUSY;
		}
		forget(false);
		if ((size_t)snprintf(store.dir, sizeof(store.dir), "%s", dir) >=
		    sizeof(store.dir)) {
			store.dir[0] = '\0';
			snprintf(err, errlen, "record directory %s: %s", dir,
				 strerror(ENAMETOOLONG));
			return -ENAMETOOLONG;
		}
	}
	if (store.depth++)
		return 0;
	rc = lock_take(err, errlen);
	if (rc == 0)
		rc = scan(err, errlen);
	if (rc < 0)
		coop_netns_rec_end();
	return rc;
}

void coop_netns_rec_end(void)
{
	if (store.depth && !--store.depth && store.lock_fd >= 0)
		flock(store.lock_fd, LOCK_UN);
}

void coop_netns_rec_reset(void)
{
	forget(store.forked);
	store.forked = false;
}

/* --- writing ---------------------------------------------------------------- */

/* Append text (whole entries) to lg: this process's log is opened (made)
 * once and kept; another (a dead owner's) just for this. A torn tail goes
 * first; a failed write is cut off, so that the log stays whole entries. */
static int log_append(struct log *lg, const char *text, size_t len)
{
	char path[256];
	struct stat sb;
	int fd = lg->fd, rc = 0;

	log_path(lg, path, sizeof(path));
	if (fd < 0) {
		fd = open(path,
			  O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW | (lg->self ? O_CREAT : 0),
			  0600);
		if (fd < 0)
			return -errno;
		if (fstat(fd, &sb) < 0) {
			rc = -errno;
			close(fd);
			return rc;
		}
		if (lg->ino && (unsigned long long)sb.st_ino != lg->ino) {
			close(fd); /* another file since it was read: not ours to extend */
			return -ESTALE;
		}
		lg->ino = (unsigned long long)sb.st_ino;
		if (lg->self)
			lg->fd = fd;
	}
	if (lg->torn) {
		if (ftruncate(fd, lg->end) < 0)
			rc = -errno;
		else
			lg->torn = false;
	}
	if (rc == 0)
		rc = write_all(fd, text, len);
	if (rc == 0) {
		lg->end += (off_t)len;
		lg->lines += count_lines(text, len);
	} else if (!lg->torn && ftruncate(fd, lg->end) < 0) {
		lg->torn = true;
	}
	if (!lg->self)
		close(fd);
	return rc;
}

/* Write this process's log anew with its current records alone (to a
 * temporary name, renamed over it): it is mostly superseded entries, or
 * was removed by hand. */
static int own_rewrite(struct log *lg)
{
	char path[256], tmp[264], *buf, *o;
	struct stat sb;
	struct ent *e;
	size_t i;
	unsigned line = 1;
	int fd, rc;

	if (lg->bad_line)
		return -EBADMSG; /* what cannot be told apart cannot be kept */
	log_path(lg, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s/.%s.new", store.dir, lg->name);
	o = buf = malloc(lg->live_bytes + 1);
	if (!buf)
		return -ENOMEM;
	for (i = 0; i < store.n_buckets; i++) {
		for (e = store.tab[i]; e; e = e->next) {
			if (e->log != lg)
				continue;
			if (!e->text) {
				free(buf);
				return -EBADMSG;
			}
			memcpy(o, e->text, e->len);
			o += e->len;
			e->line = line;
			line += count_lines(e->text, e->len);
		}
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	rc = fd < 0 ? -errno : write_all(fd, buf, (size_t)(o - buf));
	free(buf);
	if (rc == 0 && (fstat(fd, &sb) < 0 || rename(tmp, path) < 0))
		rc = -errno;
	if (rc < 0) {
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		coop_warn("cannot write %s anew: %s", path, strerror(-rc));
		return rc;
	}
	if (lg->fd >= 0)
		close(lg->fd);
	lg->fd = fd;
	lg->ino = (unsigned long long)sb.st_ino;
	lg->end = (off_t)sb.st_size;
	lg->lines = line - 1;
	lg->torn = false;
	return 0;
}

/* The entry of ns in lg is no more: a "gone" line, or the whole log when
 * nothing else in it is current. */
static int ent_gone(struct log *lg, const char *ns)
{
	char path[256], line[COOP_NAME_MAX + 8];
	int rc, n;

	if (lg->live == 1 && !lg->bad_line) {
		log_path(lg, path, sizeof(path));
		if (unlink(path) < 0 && errno != ENOENT)
			return -errno;
		log_free(lg);
		return 0;
	}
	n = snprintf(line, sizeof(line), "gone %s\n", ns);
	rc = log_append(lg, line, (size_t)n);
	if (rc == 0)
		ent_del(ns, lg);
	return rc;
}

int coop_netns_rec_write(const char *dir, const struct coop_netns_rec *r, bool excl, char *err,
			 size_t errlen)
{
	char small[1024], *buf = small, path[256];
	struct ent *e, *next;
	struct log *self;
	int n, rc;

	rc = coop_netns_rec_begin(dir, err, errlen);
	if (rc < 0)
		return rc;
	for (e = store.n_buckets ? *bucket(r->ns) : NULL; e; e = e->next) {
		if (e->log->self || strcmp(e->ns, r->ns))
			continue;
		log_path(e->log, path, sizeof(path));
		if (excl || log_owner_alive(e->log)) {
			rc = excl ? -EEXIST : -EBUSY;
			snprintf(err, errlen, "namespace '%s' is recorded in %s%s", r->ns, path,
				 rc == -EBUSY ? ", whose coopd runs" : "");
			goto out;
		}
	}
	n = coop_netns_rec_format(r, small, sizeof(small));
	if (n == -ENOSPC) {
		size_t big = 256 + r->n_addrs * 80;

		buf = malloc(big);
		n = buf ? coop_netns_rec_format(r, buf, big) : -ENOMEM;
	}
	rc = n < 0 ? n : 0;
	self = log_find(r->pid, r->start);
	if (rc == 0 && !coop_netns_rec_owner_self(r))
		rc = -EINVAL; /* only this process's records go in its log */
	if (rc == 0 && !self && !(self = log_new(r->pid, r->start, true)))
		rc = -ENOMEM;
	if (rc < 0) {
		snprintf(err, errlen, "record of namespace '%s': %s", r->ns, strerror(-rc));
		goto out;
	}
	if (self->end > COMPACT_MIN && (size_t)self->end > COMPACT_RATIO * self->live_bytes)
		own_rewrite(self);
	rc = log_append(self, buf, (size_t)n);
	if (rc == 0)
		rc = ent_set(r->ns, self, buf, (size_t)n,
			     self->lines + 1 - count_lines(buf, (size_t)n), NULL);
	if (rc < 0) {
		log_path(self, path, sizeof(path));
		snprintf(err, errlen, "cannot write the record of namespace '%s' to %s: %s", r->ns,
			 path, strerror(-rc));
		goto out;
	}
	/* What dead owners recorded for r->ns is superseded. */
	for (e = *bucket(r->ns); e; e = next) {
		next = e->next;
		if (e->log->self || strcmp(e->ns, r->ns))
			continue;
		log_path(e->log, path, sizeof(path));
		n = ent_gone(e->log, r->ns);
		if (n < 0)
			coop_warn("cannot mark namespace '%s' gone in %s: %s", r->ns, path,
				  strerror(-n));
	}
out:
	if (buf != small)
		free(buf);
	coop_netns_rec_end();
	return rc;
}

int coop_netns_rec_remove(const char *dir, const char *ns)
{
	struct ent *e, *next;
	char err[256];
	int rc, ret = 0;

	rc = coop_netns_rec_begin(dir, err, sizeof(err));
	if (rc < 0)
		return rc;
	for (e = store.n_buckets ? *bucket(ns) : NULL; e; e = next) {
		next = e->next;
		if (strcmp(e->ns, ns) || (!e->log->self && log_owner_alive(e->log)))
			continue; /* another namespace, or a running coopd's */
		rc = ent_gone(e->log, ns);
		if (rc < 0 && !ret)
			ret = rc;
	}
	coop_netns_rec_end();
	return ret;
}

/* --- reading ---------------------------------------------------------------- */

/* Which of two entries of one namespace is current: this process's, then a
 * running owner's, then the one of the owner started last (two only remain
 * when the adopter died between its record and the "gone" line). */
static bool ent_before(const struct ent *a, const struct ent *b)
{
	bool la, lb;

	if (a->log->self != b->log->self)
		return a->log->self;
	la = log_owner_alive(a->log);
	lb = log_owner_alive(b->log);
	if (la != lb)
		return la;
	return a->log->start > b->log->start;
}

int coop_netns_rec_read(const char *dir, const char *ns, struct coop_netns_rec *r, char *err,
			size_t errlen)
{
	struct ent *e, *best = NULL;
	char path[256], why[256];
	int rc;

	memset(r, 0, sizeof(*r));
	rc = coop_netns_rec_begin(dir, err, errlen);
	if (rc < 0)
		return rc;
	rc = -ENOENT;
	for (e = store.n_buckets ? *bucket(ns) : NULL; e; e = e->next) {
		if (strcmp(e->ns, ns))
			continue;
		log_path(e->log, path, sizeof(path));
		if (e->why) {
			snprintf(err, errlen, "record %s is corrupt: %s", path, e->why);
			rc = -EBADMSG;
			goto out;
		}
		if (e->log->bad_line && e->line < e->log->bad_line) {
			snprintf(err, errlen,
				 "record %s is corrupt: %s (coop cannot tell whether that entry superseded the one of line %u)",
				 path, e->log->bad_why, e->line);
			rc = -EBADMSG;
			goto out;
		}
		if (!best || ent_before(e, best))
			best = e;
	}
	if (!best)
		goto out;
	log_path(best->log, path, sizeof(path));
	rc = parse_at(best->text, best->len, r, why, sizeof(why), best->line);
	if (rc == -EBADMSG)
		snprintf(err, errlen, "record %s is corrupt: %s", path, why);
	else if (rc < 0)
		snprintf(err, errlen, "cannot read the record %s: %s", path, strerror(-rc));
out:
	coop_netns_rec_end();
	return rc;
}

int coop_netns_rec_list(const char *dir, char ***names, size_t *n, char *err, size_t errlen)
{
	struct ent *e, *f;
	size_t i, k = 0;
	char **v;
	int rc;

	*names = NULL;
	*n = 0;
	rc = coop_netns_rec_begin(dir, err, errlen);
	if (rc < 0)
		return rc;
	v = calloc(store.n_ents + 1, sizeof(*v));
	if (!v)
		goto err_nomem;
	for (i = 0; i < store.n_buckets; i++) {
		for (e = store.tab[i]; e; e = e->next) {
			/* once per namespace: at its first entry in the chain */
			for (f = store.tab[i]; f != e && strcmp(f->ns, e->ns); f = f->next)
				;
			if (f != e)
				continue;
			v[k] = strdup(e->ns);
			if (!v[k++])
				goto err_nomem;
		}
	}
	coop_netns_rec_end();
	*names = v;
	*n = k;
	return 0;

err_nomem:
	coop_netns_rec_list_free(v, k);
	coop_netns_rec_end();
	snprintf(err, errlen, "records in %s: %s", dir, strerror(ENOMEM));
	return -ENOMEM;
}

void coop_netns_rec_list_free(char **names, size_t n)
{
	while (names && n--)
		free(names[n]);
	free(names);
}

/* --- owner ------------------------------------------------------------------ */

int coop_netns_rec_proc_start(long pid, unsigned long long *start)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -ESRCH; /* it exited between open and read */
	buf[n] = '\0';
	/* comm (field 2) may hold blanks and parentheses: fields are counted
	 * from the last ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return -EBADMSG;
	for (field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", start) != 1)
		return -EBADMSG;
	return 0;
}

int coop_netns_rec_set_owner(struct coop_netns_rec *r)
{
	int rc;

	if (!self_pid) {
		watch_fork();
		rc = coop_netns_rec_proc_start(getpid(), &self_start);
		if (rc < 0)
			return rc;
		self_pid = getpid();
	}
	r->pid = self_pid;
	r->start = self_start;
	return 0;
}

bool coop_netns_rec_owner_self(const struct coop_netns_rec *r)
{
	struct coop_netns_rec me = { .pid = 0 };

	return coop_netns_rec_set_owner(&me) == 0 && me.pid == r->pid && me.start == r->start;
}

bool coop_netns_rec_owner_alive(const struct coop_netns_rec *r)
{
	unsigned long long start;
	int rc = coop_netns_rec_proc_start(r->pid, &start);

	/* A /proc we cannot parse says nothing: count the owner as alive
	 * rather than take over another coopd's namespace. */
	if (rc == -EBADMSG)
		return true;
	return rc == 0 && start == r->start;
}
