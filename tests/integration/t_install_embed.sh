#!/usr/bin/env bash
# `make install` into a staging directory gives a library, headers and a
# coop.pc with which an application embeds coop: the README's example is
# built against the installed files only, run, and serves its own service.
. "$(dirname "$0")/lib.sh"

stage="$T/stage"
make -s -C "$top" B="$B" install DESTDIR="$stage" PREFIX=/usr >/dev/null || fail "make install"
for f in usr/lib/libcoop.a usr/lib/libcoop.so usr/lib/pkgconfig/coop.pc usr/include/coop/coop.h \
	 usr/sbin/coopd usr/bin/coopctl; do
	[ -e "$stage/$f" ] || fail "make install did not install $f"
done
unit="$stage/usr/lib/systemd/system/coopd.service"
[ -f "$unit" ] || fail "make install did not install the systemd unit"
grep -qx 'ExecStart=/usr/sbin/coopd -c /etc/coop/coop.ini' "$unit" || fail "unit paths: $(grep Exec "$unit")"
grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$unit" || fail "unit: no ExecReload"
[ -f "$stage/etc/coop/example.ini" ] || fail "PREFIX=/usr: configuration not in /etc/coop"
ok "library, headers, coop.pc and binaries installed; the unit's paths are the installed ones, config in /etc"

cat >"$T/app.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <coop/coop.h>

/* An application service: answers "hello from VS" and closes. */
static int hello_accept(struct coop_conn *conn)
{
	char line[128];

	snprintf(line, sizeof(line), "hello from %s\n", coop_vs_name(coop_conn_vs(conn)));
	coop_conn_write(conn, line, strlen(line));
	coop_conn_close(conn);
	return 0;
}

static void hello_read(struct coop_conn *conn, const void *data, size_t len)
{
	(void)conn, (void)data, (void)len;
}

static const struct coop_service hello = {
	.name = "hello", .on_accept = hello_accept, .on_read = hello_read,
};

int main(int argc, char **argv)
{
	char err[512];
	struct coop *c = coop_new();

	coop_service_register(c, &hello);
	if (argc < 2 || coop_configure(c, argv[1], err, sizeof(err)) < 0 ||
	    coop_start(c, err, sizeof(err)) < 0) {
		fprintf(stderr, "app: %s\n", err);
		return 1;
	}
	coop_run(c);
	coop_free(c);
	return 0;
}
C
export PKG_CONFIG_SYSROOT_DIR="$stage" PKG_CONFIG_PATH="$stage/usr/lib/pkgconfig"
cc -std=c11 -Wall -Werror -o "$T/app" "$T/app.c" $(pkg-config --cflags coop) \
	"$stage/usr/lib/libcoop.a" $(pkg-config --static --libs coop | sed "s|-L[^ ]*||g; s|-lcoop||") ||
	fail "the example does not build against the installed files"
ok "an application builds against the installed headers and coop.pc"

# The README's example, exactly as written there, builds and links too.
awk '/^```c$/ {on = 1; next} /^```$/ && on {exit} on' "$top/README.md" >"$T/readme.c"
[ -s "$T/readme.c" ] || fail "no C example in README.md"
cc -std=c11 -Wall -Werror -o "$T/readme" "$T/readme.c" $(pkg-config --cflags coop) \
	"$stage/usr/lib/libcoop.a" $(pkg-config --static --libs coop | sed "s|-L[^ ]*||g; s|-lcoop||") ||
	fail "the README's example does not build as written"
ok "the README's example builds as written"

# The shared library exports the coop_* API and nothing else, and the
# example links against it.
other=$(nm -D --defined-only "$stage/usr/lib/libcoop.so" | awk '{print $3}' | grep -v '^coop_' | head -5)
[ -z "$other" ] || fail "libcoop.so exports symbols outside coop_*: $other"
cc -std=c11 -Wall -Werror -o "$T/readme-so" "$T/readme.c" $(pkg-config --cflags coop) \
	-L"$stage/usr/lib" -lcoop || fail "the README's example does not link against libcoop.so"
ok "libcoop.so exports only coop_*; the example links against it"

client_ns "$P-c1" "${P}v1" 198.18.12.2/24 2001:db8:12::2/64
cat >"$T/app.ini" <<INI
[global]
workers = 1
admin_socket = none

[vs tenant1]
namespace = $P-t1
interface = ${P}v1
addresses = 198.18.12.1/24
listen = tcp:80 hello
INI
"$T/app" "$T/app.ini" >"$T/coopd.log" 2>&1 &
app=$!
PIDS+=("$app")
for _ in $(seq 50); do
	out=$(nsx "$P-c1" timeout 2 socat -t 1 - TCP:198.18.12.1:80,connect-timeout=1 2>/dev/null) && break
	sleep 0.1
done
[ "$out" = "hello from tenant1" ] || fail "embedded service answered '$out'"
ok "the embedded application serves its own service in its VS"
kill -TERM "$app"
wait "$app" || fail "application did not exit cleanly"
ip netns list | grep -q "^$P-t1" && fail "namespace left behind"
ok "clean exit"
