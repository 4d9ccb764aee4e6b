/* admin.c - the admin socket: a Unix stream socket on the control loop,
 * one command line in, one JSON line out, commands from a registered
 * table (the built-in one: help; the runtime and the modules add theirs). */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/admin.h"
#include "base/json.h"
#include "base/log.h"
#include "base/util.h"
#include "core/runtime.h"

#define WORDS_MAX 8        /* words of one command name */
#define WORDS_LEN 128      /* bytes of a command name, with the NUL */
#define TOKENS_MAX 64      /* words of one command line */
#define ERR_LEN 512        /* handler error message */
#define OUT_HIGH 65536     /* unsent reply bytes above which we stop reading */
#define ACCEPT_BURST 32    /* accepts per wakeup, so clients cannot starve the loop */
#define ACCEPT_PAUSE 1.0   /* seconds to stop accepting when out of descriptors */


/* A registered command with its name split into words and its argument
 * count derived from the usage. */
struct admin_cmd {
	struct coop_admin_cmd cmd;   /* as registered */
	char wordbuf[WORDS_LEN];     /* cmd.words with NULs between words */
	char *words[WORDS_MAX];      /* into wordbuf */
	unsigned n_words;            /* how many */
	unsigned min_args;           /* required arguments */
	unsigned max_args;           /* UINT_MAX when the last one repeats */
};

/* One connected client. Control thread. */
struct admin_client {
	struct coop_admin *adm;        /* server */
	int fd;                        /* accepted socket, non-blocking */
	ev_io rio;                     /* readable: command bytes */
	ev_io wio;                     /* writable: active while replies are unsent */
	ev_timer timer;                /* stall and idle timeout */
	ev_tstamp last;                /* last progress either way */
	char in[COOP_ADMIN_LINE_MAX];  /* bytes of the command line being received */
	size_t in_len;                 /* how many */
	bool discarding;               /* skipping the rest of an over-long line */
	bool eof;                      /* the client shut down its sending side */
	char *out;                     /* replies not yet sent */
	size_t out_len;                /* bytes in out */
	size_t out_off;                /* bytes of out already sent */
	size_t out_cap;                /* allocated bytes of out */
	struct coop_admin_defer *pending; /* a command answering later: the
					   * following lines wait for it */
	bool deferred;                 /* the line being run deferred its reply */
	struct admin_client *prev, *next; /* adm->clients list */
};

/* A reply given after its handler returned (coop_admin_defer). */
struct coop_admin_defer {
	struct admin_client *cl;   /* the client waiting for it */
	void (*cancel)(void *arg); /* told if the client goes first */
	void *arg;                 /* its argument */
};

/* The admin state of a runtime (c->admin). Control thread. */
struct coop_admin {
	struct coop *c;                /* runtime */
	struct admin_cmd *cmds;        /* command table, in registration order */
	size_t n_cmds;                 /* entries in use */
	size_t cap_cmds;               /* entries allocated */
	void *running_data;            /* data of the handler being run */
	struct admin_client *running_client; /* client whose line is being run
					      * (NULL in coop_admin_exec) */
	int fd;                        /* listening socket, -1 when closed */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* its file */
	dev_t dev;                     /* identity of the file we bound, so */
	ino_t ino;                     /* close never removes a successor's */
	ev_io accept_w;                /* listening socket readable */
	ev_timer accept_pause;         /* resumes accepting after EMFILE */
	struct admin_client *clients;  /* connected clients */
	unsigned n_clients;            /* how many */
	double stall_timeout;          /* see COOP_ADMIN_STALL_TIMEOUT */
	double idle_timeout;           /* see COOP_ADMIN_IDLE_TIMEOUT */
	struct coop_json reply;        /* reused for every reply */
};

/* --- the command table --------------------------------------------------- */

static int cmd_help(struct coop *c, int argc, char **argv, struct coop_json *out, char *err,
		    size_t errlen);

static const struct coop_admin_cmd builtins[] = {
	{ "help", "[WORD...]", "list commands (those starting with WORD...) with usage and help",
	  cmd_help, NULL },
};

static bool word_ok(const char *w)
{
	if (!*w)
		return false;
	for (; *w; w++)
		if (!((*w >= 'a' && *w <= 'z') || (*w >= '0' && *w <= '9') || *w == '_' ||
		      *w == '-'))
			return false;
	return true;
}

/* Split cmd->words into e and derive the argument counts from cmd->args. */
static int cmd_parse(const struct coop_admin_cmd *cmd, struct admin_cmd *e)
{
	char usage[COOP_ADMIN_LINE_MAX], *tok, *save = NULL;
	bool optional_seen = false, repeat_seen = false;
	size_t n;

	memset(e, 0, sizeof(*e));
	if (!cmd || !cmd->words || !cmd->handler)
		return -EINVAL;
	n = strlen(cmd->words);
	if (!n || n >= sizeof(e->wordbuf))
		return -EINVAL;
	memcpy(e->wordbuf, cmd->words, n + 1);
	/* Single spaces only, so the name shown by help is the one typed. */
	for (tok = e->wordbuf;; tok = NULL) {
		char *w = strtok_r(tok, " ", &save);

		if (!w)
			break;
		if (!word_ok(w) || e->n_words == WORDS_MAX)
			return -EINVAL;
		e->words[e->n_words++] = w;
	}
	if (!e->n_words || strstr(cmd->words, "  ") || cmd->words[0] == ' ' ||
	    cmd->words[n - 1] == ' ')
		return -EINVAL;

	if (cmd->args) {
		if (strlen(cmd->args) >= sizeof(usage))
			return -EINVAL;
		strcpy(usage, cmd->args);
		save = NULL;
		for (tok = usage;; tok = NULL) {
			char *a = strtok_r(tok, " ", &save);
			size_t al;
			bool opt;

			if (!a)
				break;
			if (repeat_seen)
				return -EINVAL; /* NAME... must be last */
			al = strlen(a);
			opt = a[0] == '[';
			if (opt != (a[al - 1] == ']') || (opt && al < 3))
				return -EINVAL;
			if (opt) {
				a[--al] = '\0';
				a++;
				al--;
			} else if (optional_seen) {
				return -EINVAL; /* required after optional */
			}
			if (al > 3 && !strcmp(a + al - 3, "...")) {
				repeat_seen = true;
				e->max_args = UINT_MAX;
			} else {
				e->max_args++;
			}
			if (opt)
				optional_seen = true;
			else
				e->min_args++;
		}
	}
	e->cmd = *cmd;
	return 0;
}

/* Re-point words[] after the table moved in memory. */
static void cmd_fix_words(struct admin_cmd *e, const char *oldbuf)
{
	unsigned i;

	for (i = 0; i < e->n_words; i++)
		e->words[i] = e->wordbuf + (e->words[i] - oldbuf);
}

static bool cmd_same_words(const struct admin_cmd *a, const struct admin_cmd *b)
{
	unsigned i;

	if (a->n_words != b->n_words)
		return false;
	for (i = 0; i < a->n_words; i++)
		if (strcmp(a->words[i], b->words[i]))
			return false;
	return true;
}

static int cmd_add(struct coop_admin *adm, const struct coop_admin_cmd *cmd)
{
	struct admin_cmd e, *cmds;
	size_t i;
	int ret;

	ret = cmd_parse(cmd, &e);
	if (ret < 0)
		return ret;
	for (i = 0; i < adm->n_cmds; i++)
		if (cmd_same_words(&adm->cmds[i], &e))
			return -EEXIST;
	if (adm->n_cmds == adm->cap_cmds) {
		size_t ncap = adm->cap_cmds ? adm->cap_cmds * 2 : 8;

		cmds = malloc(ncap * sizeof(*cmds));
		if (!cmds)
			return -ENOMEM;
		for (i = 0; i < adm->n_cmds; i++) {
			cmds[i] = adm->cmds[i];
			cmd_fix_words(&cmds[i], adm->cmds[i].wordbuf);
		}
		free(adm->cmds);
		adm->cmds = cmds;
		adm->cap_cmds = ncap;
	}
	adm->cmds[adm->n_cmds] = e;
	cmd_fix_words(&adm->cmds[adm->n_cmds], e.wordbuf);
	adm->n_cmds++;
	return 0;
}

/* c->admin, created with the built-in commands on first use. */
static struct coop_admin *admin_get(struct coop *c)
{
	struct coop_admin *adm = c->admin;
	size_t i;

	if (adm)
		return adm;
	adm = calloc(1, sizeof(*adm));
	if (!adm)
		return NULL;
	adm->c = c;
	adm->fd = -1;
	adm->stall_timeout = COOP_ADMIN_STALL_TIMEOUT;
	adm->idle_timeout = COOP_ADMIN_IDLE_TIMEOUT;
	coop_json_init(&adm->reply);
	for (i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
		if (cmd_add(adm, &builtins[i]) < 0) {
			free(adm->cmds);
			free(adm);
			return NULL;
		}
	}
	c->admin = adm;
	return adm;
}

int coop_admin_register(struct coop *c, const struct coop_admin_cmd *cmd)
{
	struct coop_admin *adm = admin_get(c);

	if (!adm)
		return -ENOMEM;
	return cmd_add(adm, cmd);
}

void *coop_admin_data(const struct coop *c)
{
	return c->admin ? c->admin->running_data : NULL;
}

static int client_queue(struct admin_client *cl, const char *s, size_t n);
static void reply_error(struct coop_json *reply, const char *msg);

struct coop_admin_defer *coop_admin_defer(struct coop *c, void (*cancel)(void *arg), void *arg)
{
	struct admin_client *cl = c->admin ? c->admin->running_client : NULL;
	struct coop_admin_defer *d;

	if (!cl || cl->pending || !cancel)
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->cl = cl;
	d->cancel = cancel;
	d->arg = arg;
	cl->pending = d;
	cl->deferred = true;
	return d;
}

void coop_admin_defer_done(struct coop_admin_defer *d, int ret, const struct coop_json *out,
			   const char *err)
{
	struct admin_client *cl = d->cl;
	struct coop_json j;
	const char *text;
	size_t n;

	/* Not adm->reply: a handler running now may be writing it. */
	coop_json_init(&j);
	if (ret >= 0 && out && out->len && coop_json_check(out) < 0) {
		ret = -EINVAL;
		err = "the command's reply is not one JSON value";
	}
	if (ret < 0) {
		reply_error(&j, err && *err ? err : strerror(-ret));
		text = coop_json_text(&j, &n);
	} else if (out && out->len) {
		text = coop_json_text(out, &n);
	} else {
		text = "{}";
		n = 2;
	}
	if (client_queue(cl, text, n) < 0)
		cl->eof = true; /* out of memory: give up on this client once flushed */
	coop_json_fini(&j);
	cl->pending = NULL;
	free(d);
	/* Go on with the client from the loop (its next lines, the flush):
	 * we may be inside another client's handler, and adm->reply is shared. */
	if (cl->adm->running_client != cl)
		ev_io_start(cl->adm->c->loop, &cl->wio);
}

int coop_admin_set_timeouts(struct coop *c, double stall, double idle)
{
	struct coop_admin *adm;

	if (!(stall > 0) || !(idle > 0))
		return -EINVAL;
	adm = admin_get(c);
	if (!adm)
		return -ENOMEM;
	adm->stall_timeout = stall;
	adm->idle_timeout = idle;
	return 0;
}

/* --- dispatch ------------------------------------------------------------- */

static void usage_str(const struct admin_cmd *e, char *buf, size_t len)
{
	if (e->cmd.args && e->cmd.args[0])
		snprintf(buf, len, "%s %s", e->cmd.words, e->cmd.args);
	else
		snprintf(buf, len, "%s", e->cmd.words);
}

static void reply_error(struct coop_json *reply, const char *msg)
{
	coop_json_reset(reply);
	coop_json_object_begin(reply);
	coop_json_kv_string(reply, "error", msg);
	coop_json_object_end(reply);
}

/* The command whose words are the longest prefix of tok[0..n), or NULL. */
static const struct admin_cmd *cmd_match(const struct coop_admin *adm, char **tok, unsigned n)
{
	const struct admin_cmd *best = NULL;
	size_t i;
	unsigned k;

	for (i = 0; i < adm->n_cmds; i++) {
		const struct admin_cmd *e = &adm->cmds[i];

		if (e->n_words > n || (best && e->n_words <= best->n_words))
			continue;
		for (k = 0; k < e->n_words; k++)
			if (strcmp(e->words[k], tok[k]))
				break;
		if (k == e->n_words)
			best = e;
	}
	return best;
}

static void join(char *buf, size_t len, char **tok, unsigned n)
{
	size_t off = 0;
	unsigned i;

	buf[0] = '\0';
	for (i = 0; i < n && off < len; i++) {
		int w = snprintf(buf + off, len - off, "%s%s", i ? " " : "", tok[i]);

		if (w < 0)
			break;
		off += (size_t)w;
	}
}

int coop_admin_exec(struct coop *c, char *line, struct coop_json *reply)
{
	struct coop_admin *adm = admin_get(c);
	char *tok[TOKENS_MAX + 1], *save = NULL, *t, *s;
	char msg[ERR_LEN], usage[COOP_ADMIN_LINE_MAX], err[ERR_LEN];
	const struct admin_cmd *e;
	unsigned n = 0, argc;
	int ret;

	coop_json_reset(reply);
	if (!adm) {
		reply_error(reply, "out of memory");
		return -ENOMEM;
	}
	for (s = line;; s = NULL) {
		t = strtok_r(s, " \t\r\n", &save);
		if (!t)
			break;
		if (n == TOKENS_MAX) {
			snprintf(msg, sizeof(msg), "too many words (at most %d)", TOKENS_MAX);
			reply_error(reply, msg);
			return -E2BIG;
		}
		tok[n++] = t;
	}
	tok[n] = NULL;
	if (!n) {
		reply_error(reply, "empty command; try 'help'");
		return -ENOENT;
	}
	e = cmd_match(adm, tok, n);
	if (!e) {
		join(usage, sizeof(usage), tok, n);
		snprintf(msg, sizeof(msg), "unknown command '%.200s'; try 'help'", usage);
		reply_error(reply, msg);
		return -ENOENT;
	}
	argc = n - e->n_words;
	if (argc < e->min_args || argc > e->max_args) {
		usage_str(e, usage, sizeof(usage));
		snprintf(msg, sizeof(msg), "%s: %s; usage: %.300s", e->cmd.words,
			 argc < e->min_args ? "missing argument" : "too many arguments", usage);
		reply_error(reply, msg);
		return -EINVAL;
	}

	err[0] = '\0';
	adm->running_data = e->cmd.data;
	ret = e->cmd.handler(c, (int)argc, tok + e->n_words, reply, err, sizeof(err));
	adm->running_data = NULL;
	/* The handler may have registered commands: e may be stale now. */
	if (ret < 0) {
		reply_error(reply, err[0] ? err : strerror(-ret));
		return ret;
	}
	if (reply->len == 0 && !reply->err) {
		coop_json_object_begin(reply);
		coop_json_object_end(reply);
	}
	ret = coop_json_check(reply);
	if (ret < 0) {
		join(usage, sizeof(usage), tok, n);
		snprintf(msg, sizeof(msg), "command '%.200s' failed: %s", usage,
			 ret == -ENOMEM ? "out of memory" : "its reply is not one JSON value");
		reply_error(reply, msg);
		return ret;
	}
	return 0;
}

/* --- built-in commands ------------------------------------------------------ */

static int cmd_help(struct coop *c, int argc, char **argv, struct coop_json *out, char *err,
		    size_t errlen)
{
	const struct coop_admin *adm = c->admin;
	char usage[COOP_ADMIN_LINE_MAX];
	unsigned shown = 0, k;
	size_t i;

	coop_json_object_begin(out);
	coop_json_key(out, "commands");
	coop_json_array_begin(out);
	for (i = 0; i < adm->n_cmds; i++) {
		const struct admin_cmd *e = &adm->cmds[i];

		if ((unsigned)argc > e->n_words)
			continue;
		for (k = 0; k < (unsigned)argc; k++)
			if (strcmp(e->words[k], argv[k]))
				break;
		if (k < (unsigned)argc)
			continue;
		usage_str(e, usage, sizeof(usage));
		coop_json_object_begin(out);
		coop_json_kv_string(out, "command", e->cmd.words);
		coop_json_kv_string(out, "args", e->cmd.args ? e->cmd.args : "");
		coop_json_kv_string(out, "usage", usage);
		coop_json_kv_string(out, "help", e->cmd.help ? e->cmd.help : "");
		coop_json_object_end(out);
		shown++;
	}
	coop_json_array_end(out);
	coop_json_object_end(out);
	if (!shown) {
		join(usage, sizeof(usage), argv, (unsigned)argc);
		snprintf(err, errlen, "no command starts with '%.200s'; try 'help'", usage);
		return -ENOENT;
	}
	return 0;
}

/* --- clients ---------------------------------------------------------------- */

static void client_free(struct admin_client *cl)
{
	struct coop_admin *adm = cl->adm;
	struct ev_loop *loop = adm->c->loop;

	ev_io_stop(loop, &cl->rio);
	ev_io_stop(loop, &cl->wio);
	ev_timer_stop(loop, &cl->timer);
	if (cl->pending) {
		/* The command answering later learns its client is gone. */
		struct coop_admin_defer *d = cl->pending;

		cl->pending = NULL;
		d->cancel(d->arg);
		free(d);
	}
	close(cl->fd);
	if (cl->prev)
		cl->prev->next = cl->next;
	else
		adm->clients = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	adm->n_clients--;
	free(cl->out);
	free(cl);
}

static bool client_busy(const struct admin_client *cl)
{
	return cl->in_len || cl->discarding || cl->out_len > cl->out_off;
}

/* Restart the timeout for the client's current state from its last progress. */
static void client_rearm(struct admin_client *cl)
{
	struct ev_loop *loop = cl->adm->c->loop;
	double t = client_busy(cl) ? cl->adm->stall_timeout : cl->adm->idle_timeout;
	double left = cl->last + t - ev_now(loop);

	ev_timer_stop(loop, &cl->timer);
	if (cl->pending)
		return; /* the deferred command bounds its own time */
	ev_timer_set(&cl->timer, left > 0 ? left : 0, 0.);
	ev_timer_start(loop, &cl->timer);
}

static void client_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct admin_client *cl = container_of(w, struct admin_client, timer);
	double t = client_busy(cl) ? cl->adm->stall_timeout : cl->adm->idle_timeout;

	(void)revents;
	if (ev_now(loop) >= cl->last + t) {
		coop_debug("admin: dropping a client after %.0f s without progress", t);
		client_free(cl);
		return;
	}
	client_rearm(cl);
}

/* Append the reply document and its newline to the output queue. */
static int client_queue(struct admin_client *cl, const char *s, size_t n)
{
	if (cl->out_off && cl->out_off == cl->out_len)
		cl->out_off = cl->out_len = 0;
	if (cl->out_len + n + 1 > cl->out_cap) {
		size_t cap = cl->out_cap ? cl->out_cap : 4096;
		char *p;

		while (cap < cl->out_len + n + 1)
			cap *= 2;
		p = realloc(cl->out, cap);
		if (!p)
			return -ENOMEM;
		cl->out = p;
		cl->out_cap = cap;
	}
	memcpy(cl->out + cl->out_len, s, n);
	cl->out[cl->out_len + n] = '\n';
	cl->out_len += n + 1;
	return 0;
}

static int client_line(struct admin_client *cl, char *line, size_t len)
{
	struct coop_admin *adm = cl->adm;
	const char *text;
	size_t n;

	line[len] = '\0';
	cl->deferred = false;
	if (memchr(line, '\0', len)) {
		reply_error(&adm->reply, "command contains a NUL byte");
	} else {
		adm->running_client = cl;
		coop_admin_exec(adm->c, line, &adm->reply);
		adm->running_client = NULL;
	}
	if (cl->deferred)
		return 0; /* coop_admin_defer_done queues the reply */
	text = coop_json_text(&adm->reply, &n);
	return client_queue(cl, text, n);
}

static int client_error(struct admin_client *cl, const char *msg)
{
	const char *text;
	size_t n;

	reply_error(&cl->adm->reply, msg);
	text = coop_json_text(&cl->adm->reply, &n);
	return client_queue(cl, text, n);
}

/* Answer the complete lines in the input buffer while the output queue is
 * short; a line that fills the buffer is refused and skipped. */
static int client_process(struct admin_client *cl)
{
	char line[COOP_ADMIN_LINE_MAX + 1];
	char *nl;
	size_t len;
	int ret;

	while (!cl->pending && cl->out_len - cl->out_off <= OUT_HIGH) {
		nl = memchr(cl->in, '\n', cl->in_len);
		if (nl) {
			len = (size_t)(nl - cl->in);
		} else if (cl->in_len == sizeof(cl->in)) {
			cl->in_len = 0;
			if (cl->discarding)
				continue;
			cl->discarding = true;
			ret = client_error(cl, "command line too long (at most 4095 bytes before the newline)");
			if (ret < 0)
				return ret;
			continue;
		} else if (cl->eof && cl->in_len) {
			/* A last command without its newline: answer it anyway. */
			len = cl->in_len;
		} else {
			return 0;
		}
		memcpy(line, cl->in, len);
		cl->in_len -= nl ? len + 1 : len;
		memmove(cl->in, cl->in + (nl ? len + 1 : len), cl->in_len);
		if (cl->discarding) {
			cl->discarding = false;
			continue;
		}
		ret = client_line(cl, line, len);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Send queued replies without blocking: 0 (maybe some left) or -errno. */
static int client_flush(struct admin_client *cl)
{
	ssize_t n;

	while (cl->out_off < cl->out_len) {
		n = send(cl->fd, cl->out + cl->out_off, cl->out_len - cl->out_off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -errno;
		}
		cl->out_off += (size_t)n;
		cl->last = ev_now(cl->adm->c->loop);
	}
	cl->out_off = cl->out_len = 0;
	return 0;
}

static bool client_has_work(const struct admin_client *cl)
{
	return memchr(cl->in, '\n', cl->in_len) || cl->in_len == sizeof(cl->in) ||
	       (cl->eof && cl->in_len);
}

/* Answer what can be answered, send what can be sent, then wait for the
 * right event: writable while replies are queued, else readable. */
static void client_run(struct admin_client *cl)
{
	struct ev_loop *loop = cl->adm->c->loop;

	for (;;) {
		if (client_process(cl) < 0 || client_flush(cl) < 0) {
			client_free(cl);
			return;
		}
		if (cl->pending || cl->out_len > cl->out_off || !client_has_work(cl))
			break;
	}
	if (cl->out_len > cl->out_off) {
		ev_io_stop(loop, &cl->rio);
		ev_io_start(loop, &cl->wio);
	} else {
		ev_io_stop(loop, &cl->wio);
		if (cl->pending) {
			/* Later commands wait in the socket until the reply comes. */
			ev_io_stop(loop, &cl->rio);
		} else if (cl->eof) {
			client_free(cl);
			return;
		} else {
			ev_io_start(loop, &cl->rio);
		}
	}
	client_rearm(cl);
}

static void client_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct admin_client *cl = container_of(w, struct admin_client, rio);
	ssize_t n;

	(void)revents;
	n = recv(cl->fd, cl->in + cl->in_len, sizeof(cl->in) - cl->in_len, MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		client_free(cl);
		return;
	}
	if (n == 0) {
		cl->eof = true;
		ev_io_stop(loop, &cl->rio);
	} else {
		cl->in_len += (size_t)n;
	}
	cl->last = ev_now(loop);
	client_run(cl);
}

static void client_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct admin_client *cl = container_of(w, struct admin_client, wio);

	(void)loop;
	(void)revents;
	client_run(cl);
}

/* Best effort: tell a refused peer why, then close. */
static void refuse(struct coop_admin *adm, int fd, const char *msg)
{
	const char *text;
	size_t n;
	ssize_t ignored;

	reply_error(&adm->reply, msg);
	text = coop_json_text(&adm->reply, &n);
	ignored = send(fd, text, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (ignored >= 0)
		ignored = send(fd, "\n", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)ignored;
	close(fd);
}

static void client_new(struct coop_admin *adm, int fd)
{
	struct ev_loop *loop = adm->c->loop;
	struct admin_client *cl = calloc(1, sizeof(*cl));

	if (!cl) {
		refuse(adm, fd, "out of memory");
		return;
	}
	cl->adm = adm;
	cl->fd = fd;
	cl->last = ev_now(loop);
	ev_io_init(&cl->rio, client_read_cb, fd, EV_READ);
	ev_io_init(&cl->wio, client_write_cb, fd, EV_WRITE);
	ev_timer_init(&cl->timer, client_timer_cb, adm->idle_timeout, 0.);
	cl->next = adm->clients;
	if (adm->clients)
		adm->clients->prev = cl;
	adm->clients = cl;
	adm->n_clients++;
	ev_io_start(loop, &cl->rio);
	ev_timer_start(loop, &cl->timer);
}

/* Only root and the daemon's own user may talk to it, whatever the file
 * mode says: the mode is the first fence, this is the second. */
static bool peer_allowed(int fd, char *msg, size_t len)
{
	struct ucred cred;
	socklen_t cl = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0) {
		snprintf(msg, len, "permission denied: cannot read peer credentials: %s",
			 strerror(errno));
		return false;
	}
	if (cred.uid == 0 || cred.uid == geteuid())
		return true;
	snprintf(msg, len, "permission denied: uid %u may not use this admin socket",
		 (unsigned)cred.uid);
	return false;
}

static void accept_pause_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct coop_admin *adm = container_of(w, struct coop_admin, accept_pause);

	(void)revents;
	if (adm->fd >= 0)
		ev_io_start(loop, &adm->accept_w);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct coop_admin *adm = container_of(w, struct coop_admin, accept_w);
	char msg[160];
	int fd, i;

	(void)revents;
	for (i = 0; i < ACCEPT_BURST; i++) {
		fd = accept4(adm->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* The pending connection stays queued; without a
				 * pause the level-triggered watcher would spin. */
				coop_warn("admin socket %s: accept: %s; pausing %.0f s", adm->path,
					  strerror(errno), ACCEPT_PAUSE);
				ev_io_stop(loop, &adm->accept_w);
				ev_timer_set(&adm->accept_pause, ACCEPT_PAUSE, 0.);
				ev_timer_start(loop, &adm->accept_pause);
			}
			return;
		}
		if (!peer_allowed(fd, msg, sizeof(msg))) {
			coop_warn("admin socket %s: %s", adm->path, msg);
			refuse(adm, fd, msg);
			continue;
		}
		if (adm->n_clients >= COOP_ADMIN_CLIENTS_MAX) {
			snprintf(msg, sizeof(msg), "too many admin clients (at most %d)",
				 COOP_ADMIN_CLIENTS_MAX);
			refuse(adm, fd, msg);
			continue;
		}
		client_new(adm, fd);
	}
}

/* --- the listening socket ------------------------------------------------------ */

/* mkdir -p of path's directory, new components 0755. */
static int make_parent(const char *path, char *err, size_t errlen)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct stat st;
	char *p, *end;
	int ret;

	snprintf(dir, sizeof(dir), "%s", path);
	end = strrchr(dir, '/');
	if (!end || end == dir)
		return 0; /* relative name in the cwd, or directly under / */
	*end = '\0';
	/* Each prefix in turn, the whole directory last (p == NULL). */
	for (p = strchr(dir + 1, '/');; p = strchr(p + 1, '/')) {
		if (p)
			*p = '\0';
		if (mkdir(dir, 0755) == 0)
			/* 0755 whatever the umask: a group allowed by
			 * admin_mode must be able to reach the socket. */
			ret = chmod(dir, 0755) < 0 ? -errno : 0;
		else
			ret = errno == EEXIST ? 0 : -errno;
		if (ret < 0) {
			snprintf(err, errlen, "admin socket %s: cannot create directory %s: %s", path,
				 dir, strerror(-ret));
			return ret;
		}
		if (!p)
			break;
		*p = '/';
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "admin socket %s: %s is not a directory", path, dir);
		return -ENOTDIR;
	}
	return 0;
}

/* Remove a socket file left by a dead daemon; refuse to touch a live one
 * or anything that is not a socket. */
static int clear_stale(const char *path, const struct sockaddr_un *sa, char *err, size_t errlen)
{
	struct stat st;
	int fd, ret;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		ret = -errno;
		snprintf(err, errlen, "admin socket %s: %s", path, strerror(-ret));
		return ret;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "admin socket %s: exists and is not a socket", path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "admin socket %s: socket: %s", path, strerror(-ret));
		return ret;
	}
	/* Non-blocking, so a live daemon with a full backlog answers EAGAIN
	 * instead of stalling us. */
	ret = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	if (ret == 0 || errno == EAGAIN || errno == EINPROGRESS) {
		close(fd);
		snprintf(err, errlen, "admin socket %s: another coopd is running", path);
		return -EADDRINUSE;
	}
	ret = -errno;
	close(fd);
	if (ret != -ECONNREFUSED) {
		snprintf(err, errlen, "admin socket %s: cannot check the existing socket: %s", path,
			 strerror(-ret));
		return ret;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		ret = -errno;
		snprintf(err, errlen, "admin socket %s: cannot remove the stale socket: %s", path,
			 strerror(-ret));
		return ret;
	}
	return 0;
}

int coop_admin_open(struct coop *c, char *err, size_t errlen)
{
	struct coop_admin *adm;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path;
	struct stat st;
	unsigned mode;
	int fd, ret;

	if (!c->cfg || !c->cfg->global.admin_socket[0])
		return 0;
	path = c->cfg->global.admin_socket;
	mode = c->cfg->global.admin_mode & 0777;
	if (strnlen(path, sizeof(sa.sun_path)) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "admin socket %.*s...: path too long (at most %zu bytes)", 64,
			 path, sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	if (!c->loop) {
		snprintf(err, errlen, "admin socket %s: no control loop", path);
		return -EINVAL;
	}
	adm = admin_get(c);
	if (!adm) {
		snprintf(err, errlen, "admin socket %s: out of memory", path);
		return -ENOMEM;
	}
	if (adm->fd >= 0) {
		snprintf(err, errlen, "admin socket %s: already open (%s)", path, adm->path);
		return -EBUSY;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);

	ret = make_parent(path, err, errlen);
	if (ret < 0)
		return ret;
	ret = clear_stale(path, &sa, err, errlen);
	if (ret < 0)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "admin socket %s: socket: %s", path, strerror(-ret));
		return ret;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		snprintf(err, errlen, "admin socket %s: bind: %s", path, strerror(-ret));
		goto err_close;
	}
	/* Mode before listen(): until then every connect is refused, so no
	 * client can slip in under the umask's mode. */
	if (chmod(path, mode) < 0 || lstat(path, &st) < 0) {
		ret = -errno;
		snprintf(err, errlen, "admin socket %s: chmod %04o: %s", path, mode, strerror(-ret));
		goto err_unlink;
	}
	if (listen(fd, 64) < 0) {
		ret = -errno;
		snprintf(err, errlen, "admin socket %s: listen: %s", path, strerror(-ret));
		goto err_unlink;
	}
	adm->fd = fd;
	adm->dev = st.st_dev;
	adm->ino = st.st_ino;
	snprintf(adm->path, sizeof(adm->path), "%s", path);
	ev_io_init(&adm->accept_w, accept_cb, fd, EV_READ);
	ev_timer_init(&adm->accept_pause, accept_pause_cb, ACCEPT_PAUSE, 0.);
	ev_io_start(c->loop, &adm->accept_w);
	coop_info("admin socket %s (mode %04o)", path, mode);
	return 0;

err_unlink:
	unlink(path);
err_close:
	close(fd);
	return ret;
}

void coop_admin_close(struct coop *c)
{
	struct coop_admin *adm = c->admin;
	struct stat st;

	if (!adm)
		return;
	while (adm->clients)
		client_free(adm->clients);
	if (adm->fd < 0)
		return;
	ev_io_stop(c->loop, &adm->accept_w);
	ev_timer_stop(c->loop, &adm->accept_pause);
	close(adm->fd);
	adm->fd = -1;
	/* Another daemon may have replaced the file since (after removing
	 * ours by hand): leave its socket alone. */
	if (lstat(adm->path, &st) == 0 && st.st_dev == adm->dev && st.st_ino == adm->ino)
		unlink(adm->path);
	adm->path[0] = '\0';
}

void coop_admin_free(struct coop *c)
{
	struct coop_admin *adm = c->admin;

	if (!adm)
		return;
	coop_admin_close(c);
	coop_json_fini(&adm->reply);
	free(adm->cmds);
	free(adm);
	c->admin = NULL;
}
