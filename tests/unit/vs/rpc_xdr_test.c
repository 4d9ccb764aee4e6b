/* rpc_xdr_test.c - XDR decoding and encoding, ONC RPC call parsing and reply
 * headers, and TCP record marking, against hand-built bytes: valid input,
 * every truncation, oversized lengths, and values XDR forbids. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vs/rpc.h"

/* A hand-built message: big-endian words appended one by one. */
struct msg {
	uint8_t b[2048]; /* bytes */
	size_t n;	 /* used */
};

static void w32(struct msg *m, uint32_t v)
{
	assert_true(m->n + 4 <= sizeof(m->b));
	m->b[m->n++] = v >> 24;
	m->b[m->n++] = v >> 16;
	m->b[m->n++] = v >> 8;
	m->b[m->n++] = v;
}

static void wbytes(struct msg *m, const void *p, size_t len)
{
	assert_true(m->n + len <= sizeof(m->b));
	memcpy(m->b + m->n, p, len);
	m->n += len;
}

/* A call header up to the credential flavor. */
static void call_head(struct msg *m, uint32_t xid, uint32_t prog, uint32_t vers, uint32_t proc)
{
	m->n = 0;
	w32(m, xid);
	w32(m, 0); /* CALL */
	w32(m, 2); /* rpcvers */
	w32(m, prog);
	w32(m, vers);
	w32(m, proc);
}

/* AUTH_NONE credential and verifier. */
static void auth_none(struct msg *m)
{
	w32(m, 0);
	w32(m, 0);
	w32(m, 0);
	w32(m, 0);
}

/* A well-formed AUTH_SYS credential: stamp, "nas", uid, gid, 2 gids. */
static void auth_sys(struct msg *m)
{
	w32(m, 1); /* AUTH_SYS */
	w32(m, 4 + 8 + 4 + 4 + 4 + 8);
	w32(m, 12345); /* stamp */
	w32(m, 3);     /* machinename length */
	wbytes(m, "nas\0", 4);
	w32(m, 1000); /* uid */
	w32(m, 1000); /* gid */
	w32(m, 2);    /* gids */
	w32(m, 4);
	w32(m, 24);
}

/* --- XDR ------------------------------------------------------------------------ */

static void test_xdr_u32_and_short(void **state)
{
	const uint8_t b[] = {0x12, 0x34, 0x56, 0x78, 0xff, 0xff};
	struct coop_xdr_in x;

	(void)state;
	coop_xdr_in_init(&x, b, sizeof(b));
	assert_int_equal(coop_xdr_u32(&x), 0x12345678);
	assert_false(x.bad);
	assert_int_equal(coop_xdr_left(&x), 2);
	assert_int_equal(coop_xdr_u32(&x), 0);
	assert_true(x.bad);
	/* Once bad, everything reads as zero, even with bytes left. */
	coop_xdr_in_init(&x, b, 3);
	coop_xdr_u32(&x);
	assert_true(x.bad);
	coop_xdr_in_init(&x, NULL, 100);
	assert_int_equal(coop_xdr_left(&x), 0);
	coop_xdr_u32(&x);
	assert_true(x.bad);
}

static void test_xdr_bool(void **state)
{
	struct msg m = {.n = 0};
	struct coop_xdr_in x;

	(void)state;
	w32(&m, 0);
	w32(&m, 1);
	w32(&m, 2);
	coop_xdr_in_init(&x, m.b, m.n);
	assert_false(coop_xdr_bool(&x));
	assert_true(coop_xdr_bool(&x));
	assert_false(x.bad);
	coop_xdr_bool(&x);
	assert_true(x.bad); /* XDR bools are 0 or 1, nothing else */
}

static void test_xdr_opaque(void **state)
{
	struct msg m = {.n = 0};
	struct coop_xdr_in x;
	const uint8_t *p;
	size_t len;

	(void)state;
	w32(&m, 5);
	wbytes(&m, "hello\0\0\0", 8);
	w32(&m, 0xabcdef01);
	coop_xdr_in_init(&x, m.b, m.n);
	p = coop_xdr_opaque(&x, 8, &len);
	assert_non_null(p);
	assert_int_equal(len, 5);
	assert_memory_equal(p, "hello", 5);
	assert_int_equal(x.off, 12); /* padded to 4 */
	assert_int_equal(coop_xdr_u32(&x), 0xabcdef01);

	/* Longer than max. */
	coop_xdr_in_init(&x, m.b, m.n);
	assert_null(coop_xdr_opaque(&x, 4, &len));
	assert_true(x.bad);
	/* The bytes are there but not the padding. */
	coop_xdr_in_init(&x, m.b, 9);
	assert_null(coop_xdr_opaque(&x, 8, &len));
	assert_true(x.bad);
	/* Not even the bytes. */
	coop_xdr_in_init(&x, m.b, 7);
	assert_null(coop_xdr_opaque(&x, 8, &len));
	/* A length near 2^32 must not wrap around the padding arithmetic. */
	m.n = 0;
	w32(&m, 0xfffffffd);
	w32(&m, 0);
	coop_xdr_in_init(&x, m.b, m.n);
	assert_null(coop_xdr_opaque(&x, SIZE_MAX, &len));
	assert_true(x.bad);
	/* Empty is fine. */
	m.n = 0;
	w32(&m, 0);
	coop_xdr_in_init(&x, m.b, m.n);
	assert_non_null(coop_xdr_opaque(&x, 0, &len));
	assert_int_equal(len, 0);
	assert_false(x.bad);
}

static void test_xdr_out(void **state)
{
	uint8_t b[12];
	struct coop_xdr_out x;
	const uint8_t want[] = {0, 0, 0, 3, 'a', 'b', 'c', 0, 0xde, 0xad, 0xbe, 0xef};

	(void)state;
	memset(b, 0x55, sizeof(b));
	coop_xdr_out_init(&x, b, sizeof(b));
	coop_xdr_put_opaque(&x, "abc", 3);
	coop_xdr_put_u32(&x, 0xdeadbeef);
	assert_false(x.full);
	assert_int_equal(x.off, 12);
	assert_memory_equal(b, want, sizeof(want));
	/* Full: nothing more is written, not even part of a value. */
	coop_xdr_put_u32(&x, 1);
	assert_true(x.full);
	assert_int_equal(x.off, 12);
	coop_xdr_out_init(&x, b, 6);
	coop_xdr_put_opaque(&x, "abc", 3);
	assert_true(x.full);
	assert_int_equal(x.off, 4);
}

/* --- call parsing ------------------------------------------------------------------ */

static void test_parse_null_call(void **state)
{
	struct coop_rpc_call c;
	struct msg m;
	uint32_t auth;

	(void)state;
	call_head(&m, 0xcafe, 100000, 2, 0);
	auth_none(&m);
	assert_int_equal(coop_rpc_call_parse(m.b, m.n, &c, &auth), COOP_RPC_CALL_OK);
	assert_int_equal(c.xid, 0xcafe);
	assert_int_equal(c.prog, 100000);
	assert_int_equal(c.vers, 2);
	assert_int_equal(c.proc, 0);
	assert_int_equal(c.cred_flavor, 0);
	assert_int_equal(c.args_len, 0);
	w32(&m, 7);
	assert_int_equal(coop_rpc_call_parse(m.b, m.n, &c, &auth), COOP_RPC_CALL_OK);
	assert_int_equal(c.args_len, 4);
	assert_ptr_equal(c.args, m.b + m.n - 4);
}

static void test_parse_auth_sys(void **state)
{
	struct coop_rpc_call c;
	struct msg m;
	uint32_t auth;
	size_t body;

	(void)state;
	call_head(&m, 1, 100000, 2, 3);
	auth_sys(&m);
	w32(&m, 0);
	w32(&m, 0);
	assert_int_equal(coop_rpc_call_parse(m.b, m.n, &c, &auth), COOP_RPC_CALL_OK);
	assert_int_equal(c.cred_flavor, 1);

	/* 17 gids: AUTH_SYS allows 16. */
	call_head(&m, 2, 100000, 2, 3);
	w32(&m, 1);
	body = m.n;
	w32(&m, 0);
	w32(&m, 0);
	w32(&m, 0);
	w32(&m, 0);
	w32(&m, 0);
	w32(&m, 17);
	for (int i = 0; i < 17; i++)
		w32(&m, i);
	m.b[body + 3] = (uint8_t)(m.n - body - 4); /* body length (< 256) */
	w32(&m, 0);
	w32(&m, 0);
	assert_int_equal(coop_rpc_call_parse(m.b, m.n, &c, &auth), COOP_RPC_DENY_AUTH);
	assert_int_equal(auth, COOP_RPC_AUTH_BADCRED);
	assert_int_equal(c.xid, 2);

	/* AUTH_SYS whose body has a trailing extra word. */
	call_head(&m, 3, 100000, 2, 3);
	w32(&m, 1);
	w32(&m, 24);
	w32(&m, 0);
	w32(&m, 0);
	w32(&m, 0);
	w32(&m, 0);
	w32(&m, 0);
	w32(&m, 9);
	w32(&m, 0);
	w32(&m, 0);
	assert_int_equal(coop_rpc_call_parse(m.b, m.n, &c, &auth), COOP_RPC_DENY_AUTH);
	assert_int_equal(auth, COOP_RPC_AUTH_BADCRED);
}

static void test_parse_auth_refused(void **state)
{
	struct coop_rpc_call c;
	struct msg m;
	uint32_t auth;

	(void)state;
	/* AUTH_NONE with a body. */
	call_head(&m, 5, 100000, 2, 0);
	w32(&m, 0);
	w32(&m, 4);
	w32(&m, 0);
	w32(&m, 0);
	w32(&m, 0);
	assert_int_equal(coop_rpc_call_parse(m.b, m.n, &c, &auth), COOP_RPC_DENY_AUTH);
	assert_int_equal(auth, COOP_RPC_AUTH_BADCRED);
	/* RPCSEC_GSS (6): not spoken here. */
	call_head(&m, 6, 100000, 2, 0);
	w32(&m, 6);
	w32(&m, 0);
	w32(&m, 0);
	w32(&m, 0);
	assert_int_equal(coop_rpc_call_parse(m.b, m.n, &c, &auth), COOP_RPC_DENY_AUTH);
	assert_int_equal(auth, COOP_RPC_AUTH_REJECTEDCRED);
	/* Credential body announced at 401 bytes: answered, not dropped,
	 * even though the bytes are not there. */
	call_head(&m, 7, 100000, 2, 0);
	w32(&m, 1);
	w32(&m, 401);
	assert_int_equal(coop_rpc_call_parse(m.b, m.n, &c, &auth), COOP_RPC_DENY_AUTH);
	assert_int_equal(auth, COOP_RPC_AUTH_BADCRED);
	assert_int_equal(c.xid, 7);
	/* Verifier too long. */
	call_head(&m, 8, 100000, 2, 0);
	w32(&m, 0);
	w32(&m, 0);
	w32(&m, 0);
	w32(&m, 0x7fffffff);
	assert_int_equal(coop_rpc_call_parse(m.b, m.n, &c, &auth), COOP_RPC_DENY_AUTH);
	assert_int_equal(auth, COOP_RPC_AUTH_BADVERF);
	/* 400 is allowed (and then must be present). */
	call_head(&m, 9, 100000, 2, 0);
	w32(&m, 0);
	w32(&m, 0);
	w32(&m, 0);
	w32(&m, 400);
	assert_int_equal(coop_rpc_call_parse(m.b, m.n, &c, &auth), COOP_RPC_DROP_HEADER);
	m.n += 400;
	assert_int_equal(coop_rpc_call_parse(m.b, m.n, &c, &auth), COOP_RPC_CALL_OK);
}

static void test_parse_drops_and_version(void **state)
{
	struct coop_rpc_call c;
	struct msg m = {.n = 0};
	uint32_t auth;

	(void)state;
	assert_int_equal(coop_rpc_call_parse(m.b, 0, &c, &auth), COOP_RPC_DROP_SHORT);
	assert_int_equal(coop_rpc_call_parse(NULL, 40, &c, &auth), COOP_RPC_DROP_SHORT);
	w32(&m, 1);
	assert_int_equal(coop_rpc_call_parse(m.b, m.n, &c, &auth), COOP_RPC_DROP_SHORT);
	w32(&m, 1); /* REPLY */
	assert_int_equal(coop_rpc_call_parse(m.b, m.n, &c, &auth), COOP_RPC_DROP_NOCALL);
	m.n = 4;
	w32(&m, 9); /* no such msg_type */
	w32(&m, 2);
	assert_int_equal(coop_rpc_call_parse(m.b, m.n, &c, &auth), COOP_RPC_DROP_NOCALL);
	m.n = 4;
	w32(&m, 0); /* CALL, and nothing else */
	assert_int_equal(coop_rpc_call_parse(m.b, m.n, &c, &auth), COOP_RPC_DROP_HEADER);
	w32(&m, 3); /* rpcvers 3: refused from the xid alone */
	assert_int_equal(coop_rpc_call_parse(m.b, m.n, &c, &auth), COOP_RPC_DENY_VERS);
	assert_int_equal(c.xid, 1);
	assert_int_equal(c.rpcvers, 3);
}

/* Every prefix of a valid call: never OK before the verifier is complete,
 * never a crash, OK from there on. */
static void test_parse_every_truncation(void **state)
{
	struct coop_rpc_call c;
	struct msg m;
	uint32_t auth;
	size_t full, n;

	(void)state;
	call_head(&m, 42, 100000, 2, 3);
	auth_sys(&m);
	full = m.n + 8; /* verifier: AUTH_NONE, empty */
	w32(&m, 0);
	w32(&m, 0);
	w32(&m, 100003);
	w32(&m, 3);
	w32(&m, 17);
	w32(&m, 0);
	for (n = 0; n <= m.n; n++) {
		enum coop_rpc_verdict v = coop_rpc_call_parse(m.b, n, &c, &auth);

		if (n < full) {
			assert_true(v == COOP_RPC_DROP_SHORT || v == COOP_RPC_DROP_HEADER);
		} else {
			assert_int_equal(v, COOP_RPC_CALL_OK);
			assert_int_equal(c.args_len, n - full);
		}
	}
}

static void test_reply_headers(void **state)
{
	uint8_t b[64];
	struct coop_xdr_out x;
	struct msg want = {.n = 0};

	(void)state;
	coop_xdr_out_init(&x, b, sizeof(b));
	coop_rpc_put_accepted(&x, 0x01020304, COOP_RPC_PROC_UNAVAIL);
	w32(&want, 0x01020304);
	w32(&want, 1); /* REPLY */
	w32(&want, 0); /* MSG_ACCEPTED */
	w32(&want, 0); /* verifier AUTH_NONE */
	w32(&want, 0);
	w32(&want, 3); /* PROC_UNAVAIL */
	assert_int_equal(x.off, want.n);
	assert_memory_equal(b, want.b, want.n);

	coop_xdr_out_init(&x, b, sizeof(b));
	coop_rpc_put_rpc_mismatch(&x, 9, 2, 2);
	want.n = 0;
	w32(&want, 9);
	w32(&want, 1);
	w32(&want, 1); /* MSG_DENIED */
	w32(&want, 0); /* RPC_MISMATCH */
	w32(&want, 2);
	w32(&want, 2);
	assert_int_equal(x.off, want.n);
	assert_memory_equal(b, want.b, want.n);

	coop_xdr_out_init(&x, b, sizeof(b));
	coop_rpc_put_auth_error(&x, 9, COOP_RPC_AUTH_BADCRED);
	want.n = 0;
	w32(&want, 9);
	w32(&want, 1);
	w32(&want, 1);
	w32(&want, 1); /* AUTH_ERROR */
	w32(&want, 1); /* AUTH_BADCRED */
	assert_int_equal(x.off, want.n);
	assert_memory_equal(b, want.b, want.n);
}

/* --- record marking -------------------------------------------------------------------- */

/* Records seen by the callback, concatenated with their lengths. */
struct seen {
	size_t n;	    /* records */
	size_t len[16];	    /* their lengths */
	uint8_t data[4096]; /* their bytes, back to back */
	size_t used;	    /* bytes of data */
	int fail_at;	    /* return -EPIPE on this record (1-based), 0 = never */
};

static int seen_cb(void *arg, const uint8_t *rec, size_t len)
{
	struct seen *s = arg;

	assert_true(s->n < 16 && s->used + len <= sizeof(s->data));
	if (len)
		memcpy(s->data + s->used, rec, len);
	s->used += len;
	s->len[s->n++] = len;
	return (int)s->n == s->fail_at ? -EPIPE : 0;
}

static void frag(struct msg *m, bool last, const void *p, size_t len)
{
	w32(m, (last ? 0x80000000u : 0) | (uint32_t)len);
	wbytes(m, p, len);
}

static void test_record_fragments(void **state)
{
	struct coop_rpc_rec r;
	struct seen s = {.n = 0};
	struct msg m = {.n = 0};
	size_t i;

	(void)state;
	frag(&m, false, "abc", 3);
	frag(&m, false, "", 0);
	frag(&m, true, "defg", 4);
	frag(&m, true, "xyz", 3);
	frag(&m, true, "", 0);
	coop_rpc_rec_init(&r, 64);
	/* One byte at a time: headers split across reads. */
	for (i = 0; i < m.n; i++)
		assert_int_equal(coop_rpc_rec_feed(&r, m.b + i, 1, seen_cb, &s), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.len[0], 7);
	assert_int_equal(s.len[1], 3);
	assert_int_equal(s.len[2], 0);
	assert_memory_equal(s.data, "abcdefgxyz", 10);
	/* All at once: the same records. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(coop_rpc_rec_feed(&r, m.b, m.n, seen_cb, &s), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.len[0], 7);
	coop_rpc_rec_free(&r);
}

static void test_record_bounds(void **state)
{
	struct coop_rpc_rec r;
	struct seen s = {.n = 0};
	struct msg m = {.n = 0};
	uint8_t big[60];
	int i;

	(void)state;
	memset(big, 'x', sizeof(big));
	/* Exactly the bound (header included) passes... */
	coop_rpc_rec_init(&r, 64);
	frag(&m, true, big, 60);
	assert_int_equal(coop_rpc_rec_feed(&r, m.b, m.n, seen_cb, &s), 0);
	assert_int_equal(s.n, 1);
	/* ...one more byte does not, and says so at the header. */
	m.n = 0;
	w32(&m, 0x80000000u | 61);
	assert_int_equal(coop_rpc_rec_feed(&r, m.b, m.n, seen_cb, &s), -EMSGSIZE);
	coop_rpc_rec_free(&r);
	/* Fragments that add up past the bound. */
	coop_rpc_rec_init(&r, 64);
	m.n = 0;
	frag(&m, false, big, 30);
	frag(&m, true, big, 30);
	assert_int_equal(coop_rpc_rec_feed(&r, m.b, m.n, seen_cb, &s), -EMSGSIZE);
	coop_rpc_rec_free(&r);
	/* A 2^31-1 byte fragment announced: refused before any allocation. */
	coop_rpc_rec_init(&r, 1 << 20);
	m.n = 0;
	w32(&m, 0x7fffffff);
	assert_int_equal(coop_rpc_rec_feed(&r, m.b, m.n, seen_cb, &s), -EMSGSIZE);
	assert_null(r.buf);
	coop_rpc_rec_free(&r);
	/* Endless empty fragments end too: the headers count. */
	coop_rpc_rec_init(&r, 64);
	m.n = 0;
	for (i = 0; i < 20; i++)
		w32(&m, 0);
	assert_int_equal(coop_rpc_rec_feed(&r, m.b, m.n, seen_cb, &s), -EMSGSIZE);
	coop_rpc_rec_free(&r);
}

static void test_record_cb_stops(void **state)
{
	struct coop_rpc_rec r;
	struct seen s = {.fail_at = 1};
	struct msg m = {.n = 0};

	(void)state;
	frag(&m, true, "one", 3);
	frag(&m, true, "two", 3);
	coop_rpc_rec_init(&r, 64);
	assert_int_equal(coop_rpc_rec_feed(&r, m.b, m.n, seen_cb, &s), -EPIPE);
	assert_int_equal(s.n, 1);
	coop_rpc_rec_free(&r);
}

static void test_record_mark(void **state)
{
	uint8_t h[4];
	const uint8_t want[] = {0x80, 0x00, 0x01, 0x2c};

	(void)state;
	coop_rpc_rec_mark(h, 300);
	assert_memory_equal(h, want, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_xdr_u32_and_short),
	    cmocka_unit_test(test_xdr_bool),
	    cmocka_unit_test(test_xdr_opaque),
	    cmocka_unit_test(test_xdr_out),
	    cmocka_unit_test(test_parse_null_call),
	    cmocka_unit_test(test_parse_auth_sys),
	    cmocka_unit_test(test_parse_auth_refused),
	    cmocka_unit_test(test_parse_drops_and_version),
	    cmocka_unit_test(test_parse_every_truncation),
	    cmocka_unit_test(test_reply_headers),
	    cmocka_unit_test(test_record_fragments),
	    cmocka_unit_test(test_record_bounds),
	    cmocka_unit_test(test_record_cb_stops),
	    cmocka_unit_test(test_record_mark),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
