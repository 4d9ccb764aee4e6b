/* coopctl.c - command-line client of the coop admin socket: sends one
 * command line, prints the JSON reply raw (--json) or as tables. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/json.h"

#define DEFAULT_SOCKET "/run/coop/admin.sock"
#define REPLY_MAX (256u << 20) /* refuse replies larger than this */
#define TIMEOUT_MS 30000       /* give up on a daemon that does not answer */

/* Exit codes: the command failed (or bad usage) / coopd unreachable. */
enum { EXIT_CMD = 1, EXIT_CONN = 2 };

static const char *prog = "coopctl";

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s [-s SOCKET] [--json] COMMAND...\n"
		"Send COMMAND to coopd's admin socket and print the reply.\n"
		"\n"
		"  -s, --socket SOCKET  admin socket (default: $COOP_ADMIN_SOCKET, else %s)\n"
		"  -j, --json           print the reply as the daemon sent it (one JSON line)\n"
		"  -h, --help           this help; `%s help` lists the daemon's commands\n"
		"\n"
		"Exit status: 0 success, 1 the command failed, 2 coopd could not be reached.\n",
		prog, DEFAULT_SOCKET, prog);
}

/* --- talking to the daemon -------------------------------------------------- */

/* Connect, send line, read one reply line into *out. 0 or EXIT_CONN. */
static int request(const char *path, const char *line, char **out, size_t *outlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(line), off = 0, cap = 65536, have = 0;
	struct pollfd pfd;
	char *buf, *nl;
	ssize_t n;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "%s: admin socket path too long: %s\n", prog, path);
		return EXIT_CONN;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "%s: socket: %s\n", prog, strerror(errno));
		return EXIT_CONN;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "%s: cannot connect to admin socket %s: %s (is coopd running?)\n",
			prog, path, strerror(errno));
		close(fd);
		return EXIT_CONN;
	}
	while (off < len) {
		n = send(fd, line + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			/* The daemon may have refused us with an error line
			 * before we finished: read it below. */
			break;
		}
		off += (size_t)n;
	}
	/* One command per connection: the daemon closes after replying. */
	shutdown(fd, SHUT_WR);

	buf = malloc(cap);
	if (!buf) {
		fprintf(stderr, "%s: out of memory\n", prog);
		close(fd);
		return EXIT_CONN;
	}
	pfd.fd = fd;
	pfd.events = POLLIN;
	for (;;) {
		nl = memchr(buf, '\n', have);
		if (nl)
			break;
		if (have == cap) {
			char *p = cap < REPLY_MAX ? realloc(buf, cap * 2) : NULL;

			if (!p) {
				fprintf(stderr, "%s: %s: reply too large\n", prog, path);
				goto err_free;
			}
			buf = p;
			cap *= 2;
		}
		n = poll(&pfd, 1, TIMEOUT_MS);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			fprintf(stderr, "%s: %s: no reply within %d s\n", prog, path,
				TIMEOUT_MS / 1000);
			goto err_free;
		}
		n = recv(fd, buf + have, cap - have, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
			goto err_free;
		}
		if (n == 0) {
			fprintf(stderr, "%s: %s: connection closed without a reply\n", prog, path);
			goto err_free;
		}
		have += (size_t)n;
	}
	*nl = '\0';
	*out = buf;
	*outlen = (size_t)(nl - buf);
	close(fd);
	return 0;

err_free:
	free(buf);
	close(fd);
	return EXIT_CONN;
}

/* --- printing ------------------------------------------------------------------ */

/* Print s with control characters neutralised: replies name things an
 * operator chose, and must not drive the terminal. */
static void put_safe(const char *s)
{
	for (; *s; s++)
		putchar((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
}

static bool is_scalar(const struct coop_json_value *v)
{
	return v->type != COOP_JSON_ARRAY && v->type != COOP_JSON_OBJECT;
}

/* A scalar (or an array of scalars, comma-joined) as text; "-" for
 * nothing. Returns a new string. */
static char *text_of(const struct coop_json_value *v)
{
	char *s = NULL;
	size_t len = 0, i;
	FILE *f;

	if (!v)
		return strdup("-");
	f = open_memstream(&s, &len);
	if (!f)
		return NULL;
	switch (v->type) {
	case COOP_JSON_NULL:
		fputs("-", f);
		break;
	case COOP_JSON_BOOL:
		fputs(v->b ? "true" : "false", f);
		break;
	case COOP_JSON_NUMBER:
		fputs(v->str, f);
		break;
	case COOP_JSON_STRING:
		fputs(v->len ? v->str : "-", f);
		break;
	case COOP_JSON_ARRAY:
		if (!v->n_items)
			fputs("-", f);
		for (i = 0; i < v->n_items; i++) {
			char *t = text_of(&v->items[i]);

			fprintf(f, "%s%s", i ? "," : "", t ? t : "?");
			free(t);
		}
		break;
	case COOP_JSON_OBJECT:
		fputs("{...}", f);
		break;
	}
	fclose(f);
	return s;
}

/* A text table with aligned columns. */
struct table {
	size_t ncols;    /* columns */
	size_t nrows;    /* rows, header included */
	char **cells;    /* nrows x ncols strings, owned */
	const bool *num; /* per column: right-align (numbers) */
};

static void table_add(struct table *t, char **row)
{
	char **cells = realloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(*cells));
	size_t c;

	if (!cells) {
		for (c = 0; c < t->ncols; c++)
			free(row[c]);
		return;
	}
	t->cells = cells;
	for (c = 0; c < t->ncols; c++)
		t->cells[t->nrows * t->ncols + c] = row[c] ? row[c] : strdup("?");
	t->nrows++;
}

static void table_header(struct table *t, const char *const *names)
{
	char *row[16];
	size_t c;

	for (c = 0; c < t->ncols; c++)
		row[c] = strdup(names[c]);
	table_add(t, row);
}

static void table_print(struct table *t)
{
	size_t w[16] = { 0 }, r, c, l;

	for (r = 0; r < t->nrows; r++)
		for (c = 0; c < t->ncols; c++) {
			l = strlen(t->cells[r * t->ncols + c]);
			if (l > w[c])
				w[c] = l;
		}
	for (r = 0; r < t->nrows; r++) {
		for (c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			size_t pad = w[c] - strlen(s);
			bool last = c + 1 == t->ncols;

			if (t->num[c])
				printf("%*s", (int)pad, "");
			put_safe(s);
			if (!last && !t->num[c])
				printf("%*s", (int)pad, "");
			if (!last)
				fputs("  ", stdout);
		}
		putchar('\n');
	}
	for (r = 0; r < t->nrows * t->ncols; r++)
		free(t->cells[r]);
	free(t->cells);
}

static const struct coop_json_value *get(const struct coop_json_value *v, const char *k)
{
	return coop_json_value_get(v, k);
}

static char *field(const struct coop_json_value *v, const char *k)
{
	return text_of(get(v, k));
}

/* Generic form: one "key: value" line per member, nested values indented;
 * an array of objects as a list of "- " items. */
static void print_object(const struct coop_json_value *v, int indent, bool dash);

static void print_member(const struct coop_json_value *m, int indent, const char *lead)
{
	size_t i;

	printf("%s", lead);
	put_safe(m->key ? m->key : "");
	putchar(':');
	if (is_scalar(m) ||
	    (m->type == COOP_JSON_ARRAY && (!m->n_items || is_scalar(&m->items[0])))) {
		char *t = text_of(m);

		putchar(' ');
		put_safe(t ? t : "?");
		putchar('\n');
		free(t);
		return;
	}
	putchar('\n');
	if (m->type == COOP_JSON_OBJECT) {
		print_object(m, indent + 2, false);
		return;
	}
	for (i = 0; i < m->n_items; i++) {
		const struct coop_json_value *it = &m->items[i];

		if (it->type == COOP_JSON_OBJECT && it->n_items) {
			print_object(it, indent + 4, true);
		} else {
			char *t = text_of(it);

			printf("%*s- ", indent + 2, "");
			put_safe(t ? t : "?");
			putchar('\n');
			free(t);
		}
	}
}

static void print_object(const struct coop_json_value *v, int indent, bool dash)
{
	char lead[128];
	size_t i;

	for (i = 0; i < v->n_items; i++) {
		if (i == 0 && dash)
			snprintf(lead, sizeof(lead), "%*s- ", indent - 2, "");
		else
			snprintf(lead, sizeof(lead), "%*s", indent, "");
		print_member(&v->items[i], indent, lead);
	}
}

static void print_generic(const struct coop_json_value *v)
{
	size_t i;

	if (v->type == COOP_JSON_OBJECT) {
		print_object(v, 0, false);
		return;
	}
	if (v->type == COOP_JSON_ARRAY) {
		for (i = 0; i < v->n_items; i++) {
			if (v->items[i].type == COOP_JSON_OBJECT) {
				print_object(&v->items[i], 2, true);
			} else {
				char *t = text_of(&v->items[i]);

				fputs("- ", stdout);
				put_safe(t ? t : "?");
				putchar('\n');
				free(t);
			}
		}
		return;
	}
	{
		char *t = text_of(v);

		put_safe(t ? t : "?");
		putchar('\n');
		free(t);
	}
}

/* `help`: usage and help of each command. False when not that shape. */
static bool print_help(const struct coop_json_value *v)
{
	const struct coop_json_value *cmds = get(v, "commands"), *u, *h;
	size_t i, w = 0;

	if (!cmds || cmds->type != COOP_JSON_ARRAY)
		return false;
	for (i = 0; i < cmds->n_items; i++) {
		u = get(&cmds->items[i], "usage");
		if (!u || u->type != COOP_JSON_STRING)
			return false;
		if (u->len > w)
			w = u->len;
	}
	for (i = 0; i < cmds->n_items; i++) {
		u = get(&cmds->items[i], "usage");
		h = get(&cmds->items[i], "help");
		fputs("  ", stdout);
		put_safe(u->str);
		printf("%*s  ", (int)(w - u->len), "");
		put_safe(h && h->type == COOP_JSON_STRING ? h->str : "");
		putchar('\n');
	}
	return true;
}

/* `show vs`: one row per VS. */
static bool print_vs_list(const struct coop_json_value *v)
{
	static const char *const head[] = { "NAME", "ISOLATION", "NAMESPACE", "ADDRESSES",
					    "STATE", "ACCEPTED", "ACTIVE", "BYTES_IN",
					    "BYTES_OUT" };
	static const bool num[] = { false, false, false, false, false, true, true, true, true };
	const struct coop_json_value *list = get(v, "vs");
	struct table t = { .ncols = 9, .num = num };
	size_t i;

	if (!list || list->type != COOP_JSON_ARRAY)
		return false;
	table_header(&t, head);
	for (i = 0; i < list->n_items; i++) {
		const struct coop_json_value *e = &list->items[i], *cn = get(e, "counters");
		char *row[9] = {
			field(e, "name"), field(e, "isolation"), field(e, "namespace"),
			field(e, "addresses"), field(e, "state"), field(cn, "accepted"),
			field(cn, "active"), field(cn, "bytes_in"), field(cn, "bytes_out"),
		};

		table_add(&t, row);
	}
	table_print(&t);
	return true;
}

/* A row of counters; the CLOSED column only in tables that have it
 * (per-worker figures: the VS totals do not count closes). */
static void counters_row(struct table *t, const char *label, const struct coop_json_value *cn)
{
	char *row[7];
	size_t c = 0;

	row[c++] = strdup(label);
	row[c++] = field(cn, "accepted");
	row[c++] = field(cn, "active");
	row[c++] = field(cn, "outbound");
	if (t->ncols == 7)
		row[c++] = field(cn, "closed");
	row[c++] = field(cn, "bytes_in");
	row[c++] = field(cn, "bytes_out");
	table_add(t, row);
}

/* `show vs NAME`: the settings, then counters per worker and in total. */
static bool print_vs_detail(const struct coop_json_value *v)
{
	static const char *const head[] = { "WORKER", "ACCEPTED", "ACTIVE", "OUTBOUND",
					    "CLOSED", "BYTES_IN", "BYTES_OUT" };
	static const bool num[] = { false, true, true, true, true, true, true };
	const struct coop_json_value *workers = get(v, "workers"), *total = get(v, "counters");
	struct table t = { .ncols = 7, .num = num };
	size_t i;

	if (!workers || workers->type != COOP_JSON_ARRAY || !total ||
	    total->type != COOP_JSON_OBJECT)
		return false;
	for (i = 0; i < v->n_items; i++) {
		const struct coop_json_value *m = &v->items[i];

		if (m != workers && m != total)
			print_member(m, 0, "");
	}
	putchar('\n');
	table_header(&t, head);
	for (i = 0; i < workers->n_items; i++) {
		char *w = field(&workers->items[i], "worker");

		counters_row(&t, w ? w : "?", &workers->items[i]);
		free(w);
	}
	counters_row(&t, "total", total);
	table_print(&t);
	return true;
}

/* `show stats`, UDP part: the demux's own figures, then one row per VS
 * that has seen datagrams. */
static bool udp_active(const struct coop_json_value *u)
{
	char *in = field(u, "dgrams_in"), *out = field(u, "dgrams_out");
	bool active = (in && strcmp(in, "0")) || (out && strcmp(out, "0"));

	free(in);
	free(out);
	return active;
}

static void print_stats_udp(const struct coop_json_value *v, const struct coop_json_value *list)
{
	static const char *const head[] = { "VS", "DGRAMS_IN", "DGRAMS_OUT", "BYTES_IN",
					    "BYTES_OUT", "DROP_SERVICE", "DROP_SEND" };
	static const bool num[] = { false, true, true, true, true, true, true };
	const struct coop_json_value *udp = get(v, "udp");
	struct table t = { .ncols = 7, .num = num };
	size_t i, rows = 0;

	if (!udp || udp->type != COOP_JSON_OBJECT)
		return;
	putchar('\n');
	print_member(udp, 0, "");
	for (i = 0; i < list->n_items; i++)
		rows += udp_active(get(&list->items[i], "udp"));
	if (!rows)
		return;
	putchar('\n');
	table_header(&t, head);
	for (i = 0; i < list->n_items; i++) {
		const struct coop_json_value *u = get(&list->items[i], "udp");
		const struct coop_json_value *d = get(u, "drops");
		char *row[7];

		if (!udp_active(u))
			continue;
		row[0] = field(&list->items[i], "name");
		row[1] = field(u, "dgrams_in");
		row[2] = field(u, "dgrams_out");
		row[3] = field(u, "bytes_in");
		row[4] = field(u, "bytes_out");
		row[5] = field(d, "service");
		row[6] = field(d, "send");
		table_add(&t, row);
	}
	table_print(&t);
}

/* `show stats`: runtime figures, then one row per VS and the total. */
static bool print_stats(const struct coop_json_value *v)
{
	static const char *const head[] = { "VS", "ACCEPTED", "ACTIVE", "OUTBOUND", "BYTES_IN",
					    "BYTES_OUT" };
	static const bool num[] = { false, true, true, true, true, true };
	const struct coop_json_value *list = get(v, "vs"), *total = get(v, "counters");
	struct table t = { .ncols = 6, .num = num };
	char *workers, *count;
	size_t i;

	if (!list || list->type != COOP_JSON_ARRAY || !total)
		return false;
	workers = field(v, "workers");
	count = field(v, "vs_count");
	printf("workers: %s\nvirtual servers: %s\n\n", workers ? workers : "?", count ? count : "?");
	free(workers);
	free(count);
	table_header(&t, head);
	for (i = 0; i < list->n_items; i++) {
		char *name = field(&list->items[i], "name");

		counters_row(&t, name ? name : "?", get(&list->items[i], "counters"));
		free(name);
	}
	counters_row(&t, "total", total);
	table_print(&t);
	print_stats_udp(v, list);
	return true;
}

/* `show fwd`: settings, one row per node, then the counters that moved. */
static bool print_fwd(const struct coop_json_value *v)
{
	static const char *const settings[] = { "interface", "mode", "self", "encap", "gue_port",
						"mtu", "flow_cache_size" };
	static const char *const nhead[] = { "NODE", "ID", "ADDRESS", "WEIGHT", "STATE",
					     "ENTRIES", "NEXT_HOP", "MAC" };
	static const bool nnum[] = { false, true, false, true, false, true, false, false };
	static const char *const chead[] = { "COUNTER", "PACKETS", "BYTES" };
	static const bool cnum[] = { false, true, true };
	const struct coop_json_value *nodes = get(v, "nodes"), *ctr = get(v, "counters");
	struct table nt = { .ncols = 8, .num = nnum }, ct = { .ncols = 3, .num = cnum };
	char *s, *t;
	size_t i;

	if (!nodes || nodes->type != COOP_JSON_ARRAY || !ctr || ctr->type != COOP_JSON_OBJECT)
		return false;
	for (i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		s = field(v, settings[i]);
		printf("%s: %s\n", settings[i], s ? s : "?");
		free(s);
	}
	s = field(get(v, "table"), "size");
	t = field(get(v, "table"), "publications");
	printf("table: %s entries, %s published\n\n", s ? s : "?", t ? t : "?");
	free(s);
	free(t);
	table_header(&nt, nhead);
	for (i = 0; i < nodes->n_items; i++) {
		const struct coop_json_value *n = &nodes->items[i];
		const struct coop_json_value *self = get(n, "self");
		char *row[8];

		row[0] = field(n, "name");
		row[1] = field(n, "id");
		row[2] = field(n, "address");
		row[3] = field(n, "weight");
		row[4] = field(n, "state");
		row[5] = field(n, "entries");
		if (self && self->type == COOP_JSON_BOOL && self->b) {
			row[6] = strdup("(self)");
			row[7] = strdup("");
		} else {
			row[6] = get(n, "via") ? field(n, "via") : strdup("-");
			row[7] = get(n, "mac") ? field(n, "mac") : field(n, "problem");
		}
		table_add(&nt, row);
	}
	table_print(&nt);
	putchar('\n');
	table_header(&ct, chead);
	for (i = 0; i < ctr->n_items; i++) {
		const struct coop_json_value *c = &ctr->items[i];
		char *row[3];

		row[1] = field(c, "packets");
		if (row[1] && !strcmp(row[1], "0")) {
			free(row[1]);
			continue;
		}
		row[0] = strdup(c->key ? c->key : "?");
		row[2] = field(c, "bytes");
		table_add(&ct, row);
	}
	table_print(&ct);
	return true;
}

/* Pick the form for the command that was sent, falling back to the
 * generic one when the reply is not the expected shape. */
static void print_human(int argc, char **argv, const struct coop_json_value *v)
{
	bool done = false;

	if (v->type == COOP_JSON_OBJECT) {
		if (!strcmp(argv[0], "help"))
			done = print_help(v);
		else if (argc == 2 && !strcmp(argv[0], "show") && !strcmp(argv[1], "vs"))
			done = print_vs_list(v);
		else if (argc == 3 && !strcmp(argv[0], "show") && !strcmp(argv[1], "vs"))
			done = print_vs_detail(v);
		else if (argc == 2 && !strcmp(argv[0], "show") && !strcmp(argv[1], "stats"))
			done = print_stats(v);
		else if (argc == 2 && !strcmp(argv[0], "show") && !strcmp(argv[1], "fwd"))
			done = print_fwd(v);
	}
	if (!done)
		print_generic(v);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = getenv("COOP_ADMIN_SOCKET");
	struct coop_json_value *v = NULL;
	const struct coop_json_value *e;
	bool json = false;
	char *line, *reply = NULL, err[256];
	size_t len = 0, rlen;
	int opt, i, ret;

	if (!path || !*path)
		path = DEFAULT_SOCKET;
	/* "+": options end at the first command word. */
	while ((opt = getopt_long(argc, argv, "+s:jh", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_CMD;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return EXIT_CMD;
	}

	for (i = 0; i < argc; i++) {
		if (strpbrk(argv[i], "\n\r")) {
			fprintf(stderr, "%s: a command word may not contain a newline\n", prog);
			return EXIT_CMD;
		}
		len += strlen(argv[i]) + 1;
	}
	line = malloc(len + 1);
	if (!line) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return EXIT_CMD;
	}
	line[0] = '\0';
	for (i = 0; i < argc; i++) {
		strcat(line, argv[i]);
		strcat(line, i + 1 < argc ? " " : "\n");
	}

	ret = request(path, line, &reply, &rlen);
	free(line);
	if (ret)
		return ret;
	if (coop_json_parse(reply, rlen, &v, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: malformed reply from %s: %s\n", prog, path, err);
		free(reply);
		return EXIT_CONN;
	}
	e = get(v, "error");
	ret = e && e->type == COOP_JSON_STRING && v->n_items == 1 ? EXIT_CMD : 0;
	if (json) {
		fwrite(reply, 1, rlen, stdout);
		putchar('\n');
	} else if (ret) {
		fprintf(stderr, "%s: ", prog);
		for (i = 0; e->str[i]; i++)
			fputc((unsigned char)e->str[i] < 0x20 ? '?' : e->str[i], stderr);
		fputc('\n', stderr);
	} else {
		print_human(argc, argv, v);
	}
	coop_json_value_free(v);
	free(reply);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "%s: write error: %s\n", prog, strerror(errno));
		return EXIT_CMD;
	}
	return ret;
}
