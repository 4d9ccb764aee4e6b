/* admin_test.c - the admin command dispatcher and built-in commands against
 * a hand-built runtime with two VSes, and the real Unix socket on an ev
 * loop: replies, mode, stale/live socket files, long lines, stalls, peers. */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/admin.h"
#include "base/json.h"
#include "core/runtime.h"
#include "core/vs.h"
#include "runtime/rt.h"

/* The real backends and modules: their show vs members read only the VS
 * (no kernel state is made here). */
#define fake_netns (*coop_mod_netns.iso)
#define fake_pbr (*coop_mod_pbr.iso)

/* A runtime with two VSes on two workers, no kernel state. */
struct fixture {
	struct coop c;                 /* the runtime */
	struct coop_config cfg;        /* its configuration */
	struct coop_vs_cfg vscfg[2];   /* [vs nas1], [vs nas2] */
	struct coop_prefix addrs[3];   /* nas1: two, nas2: one */
	struct coop_listen_cfg listens[2]; /* nas1: tcp:7 echo, nas2: udp:111 portmap */
	struct coop_vs vs[2];          /* the VSes */
	struct coop_vs *vsp[2];        /* c.vs */
	char dir[64];                  /* temporary directory for sockets */
	struct coop_json reply;        /* reply writer for exec tests */
};

static void prefix(struct coop_prefix *p, int family, const char *addr, int len)
{
	memset(p, 0, sizeof(*p));
	p->addr.family = family;
	assert_int_equal(inet_pton(family, addr, family == AF_INET ? (void *)&p->addr.v4
								     : (void *)&p->addr.v6), 1);
	p->len = (uint8_t)len;
}

static void wstat_set(struct coop_vs_wstats *s, uint64_t acc, uint64_t outb, uint64_t closed,
		      uint64_t in, uint64_t out)
{
	atomic_store(&s->accepted, acc);
	atomic_store(&s->outbound, outb);
	atomic_store(&s->closed, closed);
	atomic_store(&s->bytes_in, in);
	atomic_store(&s->bytes_out, out);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int i;

	assert_non_null(f);
	prefix(&f->addrs[0], AF_INET, "198.18.1.5", 24);
	prefix(&f->addrs[1], AF_INET6, "2001:db8::5", 64);
	prefix(&f->addrs[2], AF_INET, "198.18.2.5", 24);
	f->listens[0] = (struct coop_listen_cfg){ IPPROTO_TCP, 7, "echo" };
	f->listens[1] = (struct coop_listen_cfg){ IPPROTO_UDP, 111, "portmap" };

	snprintf(f->vscfg[0].name, COOP_NAME_MAX, "nas1");
	f->vscfg[0].isolation = COOP_ISO_NETNS;
	f->vscfg[0].addrs = &f->addrs[0];
	f->vscfg[0].n_addrs = 2;
	f->vscfg[0].listens = &f->listens[0];
	f->vscfg[0].n_listens = 1;

	snprintf(f->vscfg[1].name, COOP_NAME_MAX, "nas2");
	f->vscfg[1].isolation = COOP_ISO_PBR;
	snprintf(f->vscfg[1].netns, COOP_NAME_MAX, "shared");
	f->vscfg[1].addrs = &f->addrs[2];
	f->vscfg[1].n_addrs = 1;
	f->vscfg[1].listens = &f->listens[1];
	f->vscfg[1].n_listens = 1;
	f->vscfg[1].mark = 0x1002;
	f->vscfg[1].table = 1002;
	f->vscfg[1].has_gw4 = true;
	f->vscfg[1].gw4.family = AF_INET;
	inet_pton(AF_INET, "198.18.2.1", &f->vscfg[1].gw4.v4);

	f->cfg.vs = f->vscfg;
	f->cfg.n_vs = 2;
	f->cfg.global.workers = 2;
	f->cfg.global.admin_mode = 0600;

	for (i = 0; i < 2; i++) {
		f->vs[i].coop = &f->c;
		f->vs[i].cfg = &f->vscfg[i];
		f->vs[i].n_workers = 2;
		f->vs[i].wstats = aligned_alloc(64, 2 * sizeof(struct coop_vs_wstats));
		assert_non_null(f->vs[i].wstats);
		memset(f->vs[i].wstats, 0, 2 * sizeof(struct coop_vs_wstats));
		f->vsp[i] = &f->vs[i];
	}
	f->vs[0].iso = &fake_netns;
	f->vs[0].state = COOP_VS_UP;
	f->vs[1].iso = &fake_pbr;
	f->vs[1].state = COOP_VS_DOWN;
	/* nas1: 5 accepted, 1 outbound, 1 closed over two workers. */
	wstat_set(&f->vs[0].wstats[0], 3, 0, 1, 100, 200);
	wstat_set(&f->vs[0].wstats[1], 2, 1, 0, 1000, (uint64_t)1 << 40);
	/* nas2: counters near the top of u64 must come out exact. */
	wstat_set(&f->vs[1].wstats[0], 7, 0, 7, UINT64_MAX - 10, 0);
	wstat_set(&f->vs[1].wstats[1], 0, 0, 0, 0, 0);

	f->c.cfg = &f->cfg;
	f->c.vs = f->vsp;
	f->c.n_vs = 2;
	f->c.n_workers = 2;
	f->c.loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(f->c.loop);
	{
		size_t n, k;

		f->c.mods = coop_rt_modules(&n);
		f->c.n_mods = n;
		/* the runtime registers its commands at start */
		for (k = 0; k < coop_rt_n_cmds; k++)
			assert_int_equal(coop_admin_register(&f->c, &coop_rt_cmds[k]), 0);
	}
	snprintf(f->dir, sizeof(f->dir), "/tmp/coop-admin-test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	coop_json_init(&f->reply);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	coop_admin_free(&f->c);
	assert_null(f->c.admin);
	ev_loop_destroy(f->c.loop);
	free(f->vs[0].wstats);
	free(f->vs[1].wstats);
	coop_json_fini(&f->reply);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", f->dir);
	free(f);
	return 0;
}

/* Run line through the dispatcher; return the parsed reply. */
static struct coop_json_value *run(struct fixture *f, const char *line, int *ret)
{
	struct coop_json_value *v = NULL;
	char buf[8192], err[128];
	const char *text;
	size_t len;

	snprintf(buf, sizeof(buf), "%s", line);
	*ret = coop_admin_exec(&f->c, buf, &f->reply);
	text = coop_json_text(&f->reply, &len);
	if (coop_json_parse(text, len, &v, err, sizeof(err)))
		fail_msg("reply to '%s' is not JSON (%s): %s", line, err, text);
	return v;
}

static const char *str(const struct coop_json_value *v, const char *key)
{
	const struct coop_json_value *x = coop_json_value_get(v, key);

	if (!x || x->type != COOP_JSON_STRING)
		fail_msg("no string member '%s'", key);
	return x->str;
}

static uint64_t u64(const struct coop_json_value *v, const char *key)
{
	const struct coop_json_value *x = coop_json_value_get(v, key);

	if (!x || x->type != COOP_JSON_NUMBER || !x->is_uint)
		fail_msg("no unsigned member '%s'", key);
	return x->u64;
}

/* The error message of an error reply (fails on a success reply). */
static const char *error_of(const struct coop_json_value *v)
{
	assert_int_equal(v->type, COOP_JSON_OBJECT);
	assert_int_equal(v->n_items, 1);
	return str(v, "error");
}

/* --- dispatcher and built-ins ------------------------------------------------ */

static void test_help(void **state)
{
	struct fixture *f = *state;
	const struct coop_json_value *cmds, *e;
	struct coop_json_value *v;
	int ret;

	v = run(f, "help", &ret);
	assert_int_equal(ret, 0);
	cmds = coop_json_value_get(v, "commands");
	assert_non_null(cmds);
	assert_int_equal(cmds->n_items, 1 + coop_rt_n_cmds);
	e = coop_json_value_at(cmds, 1);
	assert_string_equal(str(e, "command"), "show vs");
	assert_string_equal(str(e, "args"), "[NAME]");
	assert_string_equal(str(e, "usage"), "show vs [NAME]");
	assert_true(strlen(str(e, "help")) > 10);
	assert_string_equal(str(coop_json_value_at(cmds, 2), "usage"), "show stats");
	coop_json_value_free(v);

	/* help WORD... narrows the list; a word nothing starts with fails. */
	v = run(f, "help show", &ret);
	assert_int_equal(ret, 0);
	assert_int_equal(coop_json_value_get(v, "commands")->n_items, 2);
	coop_json_value_free(v);
	v = run(f, "help frob", &ret);
	assert_int_equal(ret, -ENOENT);
	assert_non_null(strstr(error_of(v), "'frob'"));
	coop_json_value_free(v);
}

static void test_show_vs_list(void **state)
{
	struct fixture *f = *state;
	const struct coop_json_value *list, *a, *b, *x;
	struct coop_json_value *v;
	int ret;

	v = run(f, "show vs", &ret);
	assert_int_equal(ret, 0);
	list = coop_json_value_get(v, "vs");
	assert_non_null(list);
	assert_int_equal(list->type, COOP_JSON_ARRAY);
	assert_int_equal(list->n_items, 2);

	a = coop_json_value_at(list, 0);
	assert_string_equal(str(a, "name"), "nas1");
	assert_string_equal(str(a, "isolation"), "netns");
	assert_string_equal(str(a, "namespace"), "nas1"); /* default: the VS name */
	assert_string_equal(str(a, "state"), "up");
	x = coop_json_value_get(a, "addresses");
	assert_int_equal(x->n_items, 2);
	assert_string_equal(x->items[0].str, "198.18.1.5/24");
	assert_string_equal(x->items[1].str, "2001:db8::5/64");
	x = coop_json_value_get(a, "listeners");
	assert_int_equal(x->n_items, 1);
	assert_string_equal(x->items[0].str, "tcp:7 echo");
	x = coop_json_value_get(a, "counters");
	assert_int_equal(u64(x, "accepted"), 5);
	assert_int_equal(u64(x, "outbound"), 1);
	assert_int_equal(u64(x, "active"), 5);
	assert_int_equal(u64(x, "bytes_in"), 1100);
	assert_true(u64(x, "bytes_out") == ((uint64_t)1 << 40) + 200);

	b = coop_json_value_at(list, 1);
	assert_string_equal(str(b, "name"), "nas2");
	assert_string_equal(str(b, "isolation"), "pbr");
	assert_string_equal(str(b, "namespace"), "shared");
	assert_string_equal(str(b, "state"), "down");
	assert_string_equal(coop_json_value_get(b, "listeners")->items[0].str, "udp:111 portmap");
	x = coop_json_value_get(b, "counters");
	assert_int_equal(u64(x, "active"), 0);
	assert_true(u64(x, "bytes_in") == UINT64_MAX - 10);
	coop_json_value_free(v);
}

static void test_show_vs_detail(void **state)
{
	struct fixture *f = *state;
	const struct coop_json_value *w, *x;
	struct coop_json_value *v;
	int ret;

	v = run(f, "show vs nas2", &ret);
	assert_int_equal(ret, 0);
	assert_string_equal(str(v, "name"), "nas2");
	assert_string_equal(str(v, "namespace"), "shared");
	assert_int_equal(u64(v, "mark"), 0x1002);
	assert_int_equal(u64(v, "table"), 1002);
	assert_string_equal(coop_json_value_get(v, "gateways")->items[0].str, "198.18.2.1");
	coop_json_value_free(v);

	v = run(f, "  show\tvs   nas1 \r", &ret); /* spacing does not matter */
	assert_int_equal(ret, 0);
	assert_string_equal(str(v, "name"), "nas1");
	assert_null(coop_json_value_get(v, "mark")); /* netns VSes have none */
	w = coop_json_value_get(v, "workers");
	assert_int_equal(w->n_items, 2);
	x = coop_json_value_at(w, 0);
	assert_int_equal(u64(x, "worker"), 0);
	assert_int_equal(u64(x, "accepted"), 3);
	assert_int_equal(u64(x, "closed"), 1);
	assert_int_equal(u64(x, "active"), 2);
	assert_int_equal(u64(x, "bytes_out"), 200);
	x = coop_json_value_at(w, 1);
	assert_int_equal(u64(x, "worker"), 1);
	assert_int_equal(u64(x, "active"), 3);
	assert_int_equal(u64(x, "outbound"), 1);
	assert_int_equal(u64(coop_json_value_get(v, "counters"), "accepted"), 5);
	coop_json_value_free(v);

	v = run(f, "show vs nope", &ret);
	assert_int_equal(ret, -ENOENT);
	assert_non_null(strstr(error_of(v), "'nope'"));
	coop_json_value_free(v);
}

static void test_show_stats(void **state)
{
	struct fixture *f = *state;
	const struct coop_json_value *x;
	struct coop_json_value *v;
	int ret;

	v = run(f, "show stats", &ret);
	assert_int_equal(ret, 0);
	assert_int_equal(u64(v, "workers"), 2);
	assert_int_equal(u64(v, "vs_count"), 2);
	x = coop_json_value_get(v, "counters");
	assert_int_equal(u64(x, "accepted"), 12);
	assert_int_equal(u64(x, "active"), 5);
	assert_true(u64(x, "bytes_in") == UINT64_MAX - 10 + 1100);
	x = coop_json_value_get(v, "vs");
	assert_int_equal(x->n_items, 2);
	assert_string_equal(str(&x->items[1], "name"), "nas2");
	assert_int_equal(u64(coop_json_value_get(&x->items[1], "counters"), "accepted"), 7);
	coop_json_value_free(v);
}

static void test_unknown_and_bad_args(void **state)
{
	struct fixture *f = *state;
	struct coop_json_value *v;
	const char *e;
	int ret;

	v = run(f, "frobnicate now", &ret);
	assert_int_equal(ret, -ENOENT);
	e = error_of(v);
	assert_non_null(strstr(e, "unknown command 'frobnicate now'"));
	assert_non_null(strstr(e, "help"));
	coop_json_value_free(v);

	v = run(f, "show", &ret); /* only a prefix of commands */
	assert_int_equal(ret, -ENOENT);
	assert_non_null(strstr(error_of(v), "unknown command 'show'"));
	coop_json_value_free(v);

	v = run(f, "SHOW VS", &ret); /* words are case-sensitive */
	assert_int_equal(ret, -ENOENT);
	coop_json_value_free(v);

	v = run(f, " \t ", &ret);
	assert_int_equal(ret, -ENOENT);
	assert_non_null(strstr(error_of(v), "empty command"));
	coop_json_value_free(v);

	v = run(f, "show vs nas1 extra", &ret);
	assert_int_equal(ret, -EINVAL);
	e = error_of(v);
	assert_non_null(strstr(e, "too many arguments"));
	assert_non_null(strstr(e, "usage: show vs [NAME]"));
	coop_json_value_free(v);

	v = run(f, "show stats x", &ret);
	assert_int_equal(ret, -EINVAL);
	assert_non_null(strstr(error_of(v), "usage: show stats"));
	coop_json_value_free(v);
}

/* A command of the embedding application. */
static int seen_argc;
static char seen_argv[4][32];
static void *seen_data;

static int echo_args(struct coop *c, int argc, char **argv, struct coop_json *out, char *err,
		     size_t errlen)
{
	int i;

	(void)err;
	(void)errlen;
	seen_argc = argc;
	for (i = 0; i < argc && i < 4; i++)
		snprintf(seen_argv[i], sizeof(seen_argv[i]), "%s", argv[i]);
	seen_data = coop_admin_data(c);
	coop_json_object_begin(out);
	coop_json_key(out, "args");
	coop_json_array_begin(out);
	for (i = 0; i < argc; i++)
		coop_json_string(out, argv[i]);
	coop_json_array_end(out);
	coop_json_object_end(out);
	return 0;
}

static int fail_with_msg(struct coop *c, int argc, char **argv, struct coop_json *out, char *err,
			 size_t errlen)
{
	(void)c;
	(void)argc;
	(void)argv;
	coop_json_object_begin(out); /* discarded: the reply is the error */
	snprintf(err, errlen, "share '%s' is busy", argv[0]);
	return -EBUSY;
}

static int fail_silent(struct coop *c, int argc, char **argv, struct coop_json *out, char *err,
		       size_t errlen)
{
	(void)c;
	(void)argc;
	(void)argv;
	(void)out;
	(void)err;
	(void)errlen;
	return -EPERM;
}

static int write_nothing(struct coop *c, int argc, char **argv, struct coop_json *out, char *err,
			 size_t errlen)
{
	(void)c;
	(void)argc;
	(void)argv;
	(void)out;
	(void)err;
	(void)errlen;
	return 0;
}

static int write_broken(struct coop *c, int argc, char **argv, struct coop_json *out, char *err,
			size_t errlen)
{
	(void)c;
	(void)argc;
	(void)argv;
	(void)err;
	(void)errlen;
	coop_json_object_begin(out);
	coop_json_kv_string(out, "half", "done");
	return 0; /* object never closed */
}

static void test_register(void **state)
{
	struct fixture *f = *state;
	int token;
	const struct coop_admin_cmd good = {
		"smb share set", "NAME [VALUE...]", "set a share option", echo_args, &token,
	};
	const struct coop_admin_cmd bad[] = {
		{ "", NULL, "empty", echo_args, NULL },
		{ "Smb", NULL, "upper case", echo_args, NULL },
		{ "smb  x", NULL, "two spaces", echo_args, NULL },
		{ " smb", NULL, "leading space", echo_args, NULL },
		{ "smb x ", NULL, "trailing space", echo_args, NULL },
		{ "smb", NULL, "no handler", NULL, NULL },
		{ "smb", "[A] B", "required after optional", echo_args, NULL },
		{ "smb", "A... B", "after repeat", echo_args, NULL },
		{ "smb", "[A", "unbalanced", echo_args, NULL },
		{ "a b c d e f g h i", NULL, "nine words", echo_args, NULL },
	};
	const struct coop_admin_cmd dup = { "show vs", NULL, "again", echo_args, NULL };
	const struct coop_admin_cmd more[] = {
		{ "busy", "SHARE", "fails with a message", fail_with_msg, NULL },
		{ "deny", NULL, "fails quietly", fail_silent, NULL },
		{ "nothing", NULL, "writes nothing", write_nothing, NULL },
		{ "broken", NULL, "writes half a document", write_broken, NULL },
	};
	struct coop_json_value *v;
	size_t i;
	int ret;

	/* The runtime's commands made the table (setup). */
	assert_non_null(f->c.admin);
	assert_int_equal(coop_admin_register(&f->c, &good), 0);
	assert_non_null(f->c.admin);
	assert_int_equal(coop_admin_register(&f->c, &good), -EEXIST);
	assert_int_equal(coop_admin_register(&f->c, &dup), -EEXIST);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (coop_admin_register(&f->c, &bad[i]) != -EINVAL)
			fail_msg("registered a bad command: %s", bad[i].help);
	assert_int_equal(coop_admin_register(&f->c, NULL), -EINVAL);
	for (i = 0; i < sizeof(more) / sizeof(more[0]); i++)
		assert_int_equal(coop_admin_register(&f->c, &more[i]), 0);
	/* Enough registrations to move the table in memory. */
	for (i = 0; i < 20; i++) {
		/* Static: the words must outlive the runtime. */
		static char words[20][16];
		struct coop_admin_cmd extra = { words[i], NULL, "filler", write_nothing, NULL };

		snprintf(words[i], sizeof(words[i]), "filler %zu", i);
		assert_int_equal(coop_admin_register(&f->c, &extra), 0);
	}

	v = run(f, "smb share set", &ret);
	assert_int_equal(ret, -EINVAL);
	assert_non_null(strstr(error_of(v), "missing argument; usage: smb share set NAME [VALUE...]"));
	coop_json_value_free(v);

	seen_data = NULL;
	v = run(f, "smb share set home ro on", &ret);
	assert_int_equal(ret, 0);
	assert_int_equal(seen_argc, 3);
	assert_string_equal(seen_argv[0], "home");
	assert_string_equal(seen_argv[2], "on");
	assert_ptr_equal(seen_data, &token);
	assert_null(coop_admin_data(&f->c)); /* only during the call */
	assert_int_equal(coop_json_value_get(v, "args")->n_items, 3);
	coop_json_value_free(v);

	v = run(f, "smb share set home", &ret);
	assert_int_equal(ret, 0);
	assert_int_equal(seen_argc, 1);
	coop_json_value_free(v);

	v = run(f, "busy home", &ret);
	assert_int_equal(ret, -EBUSY);
	assert_string_equal(error_of(v), "share 'home' is busy");
	coop_json_value_free(v);

	v = run(f, "deny", &ret);
	assert_int_equal(ret, -EPERM);
	assert_string_equal(error_of(v), strerror(EPERM));
	coop_json_value_free(v);

	v = run(f, "nothing", &ret);
	assert_int_equal(ret, 0);
	assert_int_equal(v->type, COOP_JSON_OBJECT);
	assert_int_equal(v->n_items, 0);
	coop_json_value_free(v);

	v = run(f, "broken", &ret);
	assert_int_equal(ret, -EINVAL);
	assert_non_null(strstr(error_of(v), "not one JSON value"));
	coop_json_value_free(v);

	/* help lists built-ins first, then registrations, in order. */
	v = run(f, "help", &ret);
	assert_int_equal(coop_json_value_get(v, "commands")->n_items, 1 + coop_rt_n_cmds + 1 + 4 + 20);
	assert_string_equal(str(coop_json_value_at(coop_json_value_get(v, "commands"), 1 + coop_rt_n_cmds), "usage"),
			    "smb share set NAME [VALUE...]");
	coop_json_value_free(v);
	v = run(f, "filler 19", &ret);
	assert_int_equal(ret, 0);
	coop_json_value_free(v);
}

/* docs/admin.md has a heading for every built-in command, usage and all:
 * the page is written from the table and must follow it. */
static void test_docs_cover_builtins(void **state)
{
	struct fixture *f = *state;
	const struct coop_json_value *cmds;
	struct coop_json_value *v;
	char path[4096], want[256], *doc;
	size_t i, n;
	FILE *fp;
	int ret;

	/* From the source tree root (make check), else relative to the
	 * binary (B/tests/unit/core/admin_test). */
	snprintf(path, sizeof(path), "docs/admin.md");
	if (access(path, R_OK) < 0) {
		ssize_t l = readlink("/proc/self/exe", path, sizeof(path) - 1);
		int up;

		assert_true(l > 0);
		path[l] = '\0';
		for (up = 0; up < 5; up++) {
			char *slash = strrchr(path, '/');

			if (!slash)
				skip();
			*slash = '\0';
		}
		strncat(path, "/docs/admin.md", sizeof(path) - strlen(path) - 1);
	}
	fp = fopen(path, "r");
	if (!fp)
		skip(); /* tests run outside the source tree */
	doc = calloc(1, 1 << 20);
	assert_non_null(doc);
	n = fread(doc, 1, (1 << 20) - 1, fp);
	fclose(fp);
	assert_true(n > 0);

	v = run(f, "help", &ret);
	cmds = coop_json_value_get(v, "commands");
	for (i = 0; i < cmds->n_items; i++) {
		snprintf(want, sizeof(want), "### `%s`\n", str(&cmds->items[i], "usage"));
		if (!strstr(doc, want))
			fail_msg("docs/admin.md lacks the heading %s", want);
	}
	coop_json_value_free(v);
	free(doc);
}

/* --- the socket ------------------------------------------------------------------ */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Turn the server's loop for a while without blocking on it. */
static void spin(struct fixture *f, double seconds)
{
	double end = now() + seconds;

	while (now() < end) {
		ev_run(f->c.loop, EVRUN_NOWAIT);
		poll(NULL, 0, 2);
	}
}

/* Bytes received by read_reply beyond the reply it returned. */
static char rbuf[1 << 20];
static size_t rhave;
static int rfd = -1;

static int client_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	rfd = -1; /* a new connection: nothing buffered for it */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail_msg("connect %s: %s", path, strerror(errno));
	return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		assert_true(w > 0);
		s += w;
		n -= (size_t)w;
	}
}

/* Read one reply line from fd, running the server's loop meanwhile.
 * Returns the parsed document; *eof is set if the server closed instead. */
static struct coop_json_value *read_reply(struct fixture *f, int fd, bool *eof)
{
	char *buf = rbuf;
	struct coop_json_value *v = NULL;
	double end = now() + 5;
	char err[128], *nl;
	size_t len;

	if (rfd != fd)
		rhave = 0;
	rfd = fd;
	*eof = false;
	for (;;) {
		nl = memchr(buf, '\n', rhave);
		if (nl)
			break;
		ev_run(f->c.loop, EVRUN_NOWAIT);
		ssize_t n = recv(fd, buf + rhave, sizeof(rbuf) - rhave, MSG_DONTWAIT);

		if (n == 0) {
			*eof = true;
			return NULL;
		}
		if (n > 0) {
			rhave += (size_t)n;
			continue;
		}
		assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
		if (now() > end)
			fail_msg("no reply within 5 s");
		poll(NULL, 0, 1);
	}
	len = (size_t)(nl - buf);
	if (coop_json_parse(buf, len, &v, err, sizeof(err)))
		fail_msg("reply is not JSON (%s): %.*s", err, (int)len, buf);
	rhave -= len + 1;
	memmove(buf, nl + 1, rhave);
	return v;
}

static struct coop_json_value *ask(struct fixture *f, int fd, const char *line)
{
	struct coop_json_value *v;
	bool eof;

	send_all(fd, line, strlen(line));
	v = read_reply(f, fd, &eof);
	assert_false(eof);
	return v;
}

/* True when the server closed fd (after running its loop a little). */
static bool closed_by_server(struct fixture *f, int fd)
{
	static char b[65536];
	double end = now() + 2;

	/* Replies already queued in the kernel come first: drain them. */
	while (now() < end) {
		ev_run(f->c.loop, EVRUN_NOWAIT);
		ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);

		if (n == 0)
			return true;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return true;
		if (n < 0)
			poll(NULL, 0, 2);
	}
	return false;
}

static void socket_path(struct fixture *f, const char *name)
{
	snprintf(f->cfg.global.admin_socket, sizeof(f->cfg.global.admin_socket), "%s/%s", f->dir,
		 name);
}

static void open_ok(struct fixture *f)
{
	char err[256] = "";

	if (coop_admin_open(&f->c, err, sizeof(err)))
		fail_msg("coop_admin_open: %s", err);
}

static void test_socket_show_vs(void **state)
{
	struct fixture *f = *state;
	struct coop_json_value *v;
	struct stat st;
	int fd;

	/* The parent directories do not exist yet. */
	socket_path(f, "run/coop/admin.sock");
	open_ok(f);
	assert_int_equal(stat(f->cfg.global.admin_socket, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);

	fd = client_connect(f->cfg.global.admin_socket);
	v = ask(f, fd, "show vs\n");
	assert_int_equal(coop_json_value_get(v, "vs")->n_items, 2);
	assert_string_equal(str(coop_json_value_at(coop_json_value_get(v, "vs"), 1), "name"), "nas2");
	coop_json_value_free(v);
	/* The connection stays open for more commands. */
	v = ask(f, fd, "show vs nas1\r\n");
	assert_string_equal(str(v, "name"), "nas1");
	coop_json_value_free(v);
	v = ask(f, fd, "bogus\n");
	assert_non_null(strstr(error_of(v), "try 'help'"));
	coop_json_value_free(v);
	close(fd);

	/* Closing removes the file. */
	coop_admin_close(&f->c);
	assert_int_equal(stat(f->cfg.global.admin_socket, &st), -1);
	assert_int_equal(errno, ENOENT);

	/* Another mode is applied as configured, and open works again. */
	f->cfg.global.admin_mode = 0660;
	open_ok(f);
	assert_int_equal(stat(f->cfg.global.admin_socket, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0660);
}

static void test_socket_pipelined_and_eof(void **state)
{
	struct fixture *f = *state;
	struct coop_json_value *v;
	bool eof;
	int fd;

	socket_path(f, "a.sock");
	open_ok(f);
	fd = client_connect(f->cfg.global.admin_socket);
	/* Three commands in one write, the last without its newline, then
	 * the client stops sending: three replies, then the server closes. */
	send_all(fd, "show stats\nhelp\nshow vs nas2", 28);
	shutdown(fd, SHUT_WR);
	v = read_reply(f, fd, &eof);
	assert_int_equal(u64(v, "vs_count"), 2);
	coop_json_value_free(v);
	v = read_reply(f, fd, &eof);
	assert_non_null(coop_json_value_get(v, "commands"));
	coop_json_value_free(v);
	v = read_reply(f, fd, &eof);
	assert_string_equal(str(v, "name"), "nas2");
	coop_json_value_free(v);
	v = read_reply(f, fd, &eof);
	assert_true(eof);
	assert_null(v);
	close(fd);
}

static void test_socket_long_line(void **state)
{
	struct fixture *f = *state;
	struct coop_json_value *v;
	char *line;
	int fd;

	socket_path(f, "a.sock");
	open_ok(f);
	fd = client_connect(f->cfg.global.admin_socket);
	line = malloc(20000);
	assert_non_null(line);

	/* The longest accepted line: 4095 bytes and the newline. */
	memset(line, ' ', COOP_ADMIN_LINE_MAX - 1);
	memcpy(line, "show stats", 10);
	line[COOP_ADMIN_LINE_MAX - 1] = '\n';
	send_all(fd, line, COOP_ADMIN_LINE_MAX);
	v = read_reply(f, fd, &(bool){ false });
	assert_int_equal(u64(v, "workers"), 2);
	coop_json_value_free(v);

	/* One byte more is refused with one error, the rest of the line is
	 * skipped, and the connection goes on. */
	memset(line, 'x', COOP_ADMIN_LINE_MAX);
	line[COOP_ADMIN_LINE_MAX] = '\n';
	send_all(fd, line, COOP_ADMIN_LINE_MAX + 1);
	v = read_reply(f, fd, &(bool){ false });
	assert_non_null(strstr(error_of(v), "too long"));
	coop_json_value_free(v);
	v = ask(f, fd, "show vs nas1\n");
	assert_string_equal(str(v, "name"), "nas1");
	coop_json_value_free(v);

	/* Far longer, followed by a command in the same write. */
	memset(line, 'y', 19000);
	memcpy(line + 19000, "\nshow stats\n", 12);
	send_all(fd, line, 19012);
	v = read_reply(f, fd, &(bool){ false });
	assert_non_null(strstr(error_of(v), "too long"));
	coop_json_value_free(v);
	v = read_reply(f, fd, &(bool){ false });
	assert_int_equal(u64(v, "vs_count"), 2);
	coop_json_value_free(v);

	/* A NUL byte inside a line is refused. */
	send_all(fd, "show\0 vs\n", 9);
	v = read_reply(f, fd, &(bool){ false });
	assert_non_null(strstr(error_of(v), "NUL"));
	coop_json_value_free(v);
	free(line);
	close(fd);
}

static void test_socket_stale_live_and_not_socket(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct fixture other;
	char err[256] = "";
	struct stat st;
	int fd;

	/* A stale socket: bound, then its owner went away without unlink. */
	socket_path(f, "stale.sock");
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->cfg.global.admin_socket);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	open_ok(f);

	/* A second runtime on the same path finds the live one. */
	memset(&other, 0, sizeof(other));
	other.cfg = f->cfg;
	other.c.cfg = &other.cfg;
	other.c.loop = f->c.loop;
	assert_int_equal(coop_admin_open(&other.c, err, sizeof(err)), -EADDRINUSE);
	assert_non_null(strstr(err, "another coopd is running"));
	assert_non_null(strstr(err, f->cfg.global.admin_socket));
	coop_admin_free(&other.c);
	/* ...and left the live socket in place and working. */
	fd = client_connect(f->cfg.global.admin_socket);
	coop_json_value_free(ask(f, fd, "help\n"));
	close(fd);
	coop_admin_close(&f->c);

	/* Something that is not a socket is never removed. */
	socket_path(f, "file");
	fd = open(f->cfg.global.admin_socket, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(coop_admin_open(&f->c, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "not a socket"));
	assert_int_equal(stat(f->cfg.global.admin_socket, &st), 0);
	assert_true(S_ISREG(st.st_mode));

	/* A directory component that is a file. */
	socket_path(f, "file/admin.sock");
	assert_true(coop_admin_open(&f->c, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "admin socket"));

	/* Empty path: no socket, no error. */
	f->cfg.global.admin_socket[0] = '\0';
	assert_int_equal(coop_admin_open(&f->c, err, sizeof(err)), 0);
}

static void test_socket_stall_timeout(void **state)
{
	struct fixture *f = *state;
	struct coop_json_value *v;
	int stalled, idle, slow_reader;

	assert_int_equal(coop_admin_set_timeouts(&f->c, 0.2, 3.0), 0);
	assert_int_equal(coop_admin_set_timeouts(&f->c, 0, 3.0), -EINVAL);
	socket_path(f, "a.sock");
	open_ok(f);
	stalled = client_connect(f->cfg.global.admin_socket);
	idle = client_connect(f->cfg.global.admin_socket);
	send_all(stalled, "show", 4); /* never finished */
	spin(f, 0.5);
	assert_true(closed_by_server(f, stalled));
	/* The idle client is within its (longer) timeout and still served. */
	v = ask(f, idle, "show stats\n");
	assert_int_equal(u64(v, "workers"), 2);
	coop_json_value_free(v);

	/* A client that asks but never reads: the server must not block on it
	 * and drops it once its replies stall. */
	slow_reader = client_connect(f->cfg.global.admin_socket);
	{
		/* 2,000 commands (16 KB, taken by the kernel at once) whose
		 * replies, about 1 MB, exceed every socket buffer. */
		char *many = malloc(16000);
		int i;

		assert_non_null(many);
		for (i = 0; i < 16000; i += 8)
			memcpy(many + i, "show vs\n", 8);
		send_all(slow_reader, many, 16000);
		free(many);
	}
	spin(f, 0.6);
	/* The loop stayed responsive to the other client meanwhile. */
	v = ask(f, idle, "show vs nas1\n");
	assert_string_equal(str(v, "name"), "nas1");
	coop_json_value_free(v);
	assert_true(closed_by_server(f, slow_reader));
	close(stalled);
	close(idle);
	close(slow_reader);
}

static void test_socket_many_clients(void **state)
{
	struct fixture *f = *state;
	enum { N = 100 };
	int fds[N], i;
	bool eof;

	socket_path(f, "a.sock");
	open_ok(f);
	for (i = 0; i < N; i++) {
		fds[i] = client_connect(f->cfg.global.admin_socket);
		send_all(fds[i], "show stats\n", 11);
		/* Accept as we go: more than the listen backlog connect. */
		ev_run(f->c.loop, EVRUN_NOWAIT);
	}
	for (i = N - 1; i >= 0; i--) {
		struct coop_json_value *v = read_reply(f, fds[i], &eof);

		assert_false(eof);
		assert_int_equal(u64(v, "vs_count"), 2);
		coop_json_value_free(v);
	}
	/* Closing the server closes every client. */
	coop_admin_close(&f->c);
	for (i = 0; i < N; i++) {
		assert_true(closed_by_server(f, fds[i]));
		close(fds[i]);
	}
}

/* Only root and the daemon's user may talk to it, whatever the mode. */
static void test_socket_peer_credentials(void **state)
{
	struct fixture *f = *state;
	pid_t pid;
	int status = -1;
	double end;

	if (geteuid() != 0)
		skip(); /* needs a second uid to connect from */
	f->cfg.global.admin_mode = 0666;
	assert_int_equal(chmod(f->dir, 0755), 0);
	socket_path(f, "a.sock");
	open_ok(f);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		char buf[512] = "";
		ssize_t n, got = 0;
		int fd;

		if (setgid(65534) || setuid(65534))
			_exit(3);
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->cfg.global.admin_socket);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			_exit(4);
		if (write(fd, "help\n", 5) < 0)
			_exit(5);
		while ((n = read(fd, buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
			got += n;
		buf[got] = '\0';
		/* One error line, then EOF. */
		_exit(strstr(buf, "{\"error\":\"permission denied: uid 65534") &&
		      !strstr(buf, "commands") ? 0 : 6);
	}
	end = now() + 5;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		ev_run(f->c.loop, EVRUN_NOWAIT);
		poll(NULL, 0, 2);
		if (now() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fail_msg("peer credential child hung");
		}
	}
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_help, setup, teardown),
		cmocka_unit_test_setup_teardown(test_show_vs_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_show_vs_detail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_show_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_and_bad_args, setup, teardown),
		cmocka_unit_test_setup_teardown(test_register, setup, teardown),
		cmocka_unit_test_setup_teardown(test_docs_cover_builtins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_show_vs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_pipelined_and_eof, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_long_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_stale_live_and_not_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_stall_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_many_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_peer_credentials, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
