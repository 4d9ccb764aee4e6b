# coop - one non-recursive Makefile.
#
#   make            libcoop (static + shared), coopd, coopctl
#   make check      install missing Debian packages, build, run unit and
#                   integration tests (integration tests need root) and
#                   each fuzzer for FUZZ_CHECK_TIME seconds
#   make run        run coopd on the built-in demo configuration
#   make bench      run the benchmarks under bench/ and record the figures
#   make fuzz       run every fuzzer under tests/fuzz/ for FUZZ_TIME seconds
#   make install    PREFIX=/usr/local DESTDIR=
#   make help
#
# Sources are found by directory, so a new module file needs no edit here:
# core/ vs/ resolver/ fwd/ examples/services/ go into libcoop; every
# tests/unit/MODULE/*_test.c is one cmocka binary; every bench/NAME/*.c is
# one benchmark binary; every tests/fuzz/*_fuzz.c is one libFuzzer binary.

VERSION    := 0.1.0
PREFIX     ?= /usr/local
DESTDIR    ?=
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
# Configuration lives in /etc for a system install (PREFIX=/usr), else
# under the prefix.
ifeq ($(PREFIX),/usr)
SYSCONFDIR ?= /etc
else
SYSCONFDIR ?= $(PREFIX)/etc
endif
UNITDIR    ?= $(PREFIX)/lib/systemd/system
# SANITIZE=address,undefined (or thread): libcoop, coopd, coopctl and the
# tests built with those sanitizers into their own build directory, and
# `make check SANITIZE=...` runs the unit and integration suites on them.
SANITIZE   ?=
comma      := ,
ifeq ($(SANITIZE),)
B          := build
else
B          := build-$(subst $(comma),-,$(SANITIZE))
endif

CC      ?= cc
CLANG   ?= clang
PKGS    := libev libnl-3.0 libnl-route-3.0 libcares
# gnu11, not c11: setns(), unshare(), accept4() and struct in6_pktinfo need
# _GNU_SOURCE, which the whole tree defines.
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -fPIC -I. -Ibase \
	   -I/usr/include/libnl3 -I/usr/include/iniparser -MMD -MP
LDLIBS  := -lev -lnl-route-3 -lnl-3 -lcares -liniparser -lbpf -lpthread
ifneq ($(SANITIZE),)
# gcc 12 reports stringop false positives on sanitized code
CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all \
	   -Wno-stringop-overread -Wno-stringop-overflow
LDLIBS  += -fsanitize=$(SANITIZE)
endif

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-7s %s\n' $(1) $(2)
endif

LIB_SRCS := $(wildcard base/*.c core/*.c vs/*.c resolver/*.c fwd/*.c runtime/*.c examples/services/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/%.o)
LIB_A    := $(B)/libcoop.a
# The forwarder's userspace reference model (flow cache, fragment table,
# publication: what the XDP data path does, as plain code) is for tests and
# benchmarks only: its own archive, linked into tests/unit/fwd/* and
# bench/*, never into libcoop, coopd or the installed files.
MODEL_SRCS := $(wildcard fwd/model/*.c)
MODEL_A    := $(B)/libcoop_fwd_model.a
LIB_SO   := $(B)/libcoop.so.$(VERSION)
PUB_HDRS := core/coop.h $(wildcard base/coop_*.h core/coop_*.h fwd/coop_*.h vs/coop_*.h resolver/coop_*.h)

COOPD    := $(B)/coopd
COOPCTL  := $(B)/coopctl

UNIT_SRCS := $(wildcard tests/unit/*/*_test.c)
UNIT_BINS := $(UNIT_SRCS:%.c=$(B)/%)
BENCH_SRCS := $(wildcard bench/*/*.c)
BENCH_BINS := $(BENCH_SRCS:%.c=$(B)/%)
BPF_SRCS := $(wildcard fwd/bpf/*.bpf.c)
BPF_OBJS := $(BPF_SRCS:%.c=$(B)/%.o)

# Fuzzers: clang's libFuzzer with AddressSanitizer and UndefinedBehavior-
# Sanitizer, over a copy of libcoop built with the same instrumentation.
# `make check` runs each over its seeds (tests/fuzz/corpus/NAME) and then
# FUZZ_CHECK_TIME seconds; `make fuzz` FUZZ_TIME seconds.
FUZZ_SRCS   := $(wildcard tests/fuzz/*_fuzz.c)
FUZZ_BINS   := $(FUZZ_SRCS:%.c=$(B)/%)
FUZZ_LIB    := $(B)/fuzz/libcoop.a
FUZZ_CFLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	       -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -I. -Ibase -I/usr/include/libnl3 \
	       -I/usr/include/iniparser -MMD -MP
FUZZ_TIME       ?= 60
FUZZ_CHECK_TIME ?= 5

.PHONY: all check unit integration fuzz fuzz-check run bench install deps help clean
all: $(LIB_A) $(LIB_SO) $(COOPD) $(COOPCTL) $(BPF_OBJS)

$(B)/%.o: %.c
	$(call msg,CC,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(LIB_A): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(MODEL_A): $(MODEL_SRCS:%.c=$(B)/%.o)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIB_SO): $(LIB_OBJS) coop.map
	$(call msg,LD,$@)
	$(Q)$(CC) -shared -Wl,-soname,libcoop.so.0 -Wl,--version-script=coop.map -o $@ $(LIB_OBJS) $(LDLIBS)
	$(Q)ln -sf libcoop.so.$(VERSION) $(B)/libcoop.so.0
	$(Q)ln -sf libcoop.so.$(VERSION) $(B)/libcoop.so

$(COOPD): $(B)/examples/coopd.o $(LIB_A)
	$(call msg,LD,$@)
	$(Q)$(CC) -o $@ $^ $(LDLIBS)

$(COOPCTL): $(B)/tools/coopctl.o $(LIB_A)
	$(call msg,LD,$@)
	$(Q)$(CC) -o $@ $^ $(LDLIBS)

$(B)/tests/unit/%: tests/unit/%.c $(LIB_A)
	$(call msg,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(LIB_A) $(LDLIBS) -lcmocka -lm

$(B)/tests/unit/fwd/%: tests/unit/fwd/%.c $(MODEL_A) $(LIB_A)
	$(call msg,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(MODEL_A) $(LIB_A) $(LDLIBS) -lcmocka -lm

$(B)/bench/%: bench/%.c $(MODEL_A) $(LIB_A)
	$(call msg,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(MODEL_A) $(LIB_A) $(LDLIBS) -lm

# BPF objects: clang targets bpf; asm/types.h lives under the multiarch dir.
$(B)/fwd/bpf/%.bpf.o: fwd/bpf/%.bpf.c
	$(call msg,BPF,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CLANG) -O2 -g -target bpf -MMD -MP -I. -I/usr/include/$(shell $(CC) -print-multiarch) -c -o $@ $<

# The forwarder's data path is embedded in libcoop (fwd/xdp_obj.c .incbin's it).
$(B)/fwd/xdp_obj.o: $(B)/fwd/bpf/coop_xdp.bpf.o
$(B)/fwd/xdp_obj.o: CFLAGS += -DCOOP_XDP_OBJ='"$(B)/fwd/bpf/coop_xdp.bpf.o"'

$(B)/fuzz/%.o: %.c
	$(call msg,CC-FUZZ,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(B)/fuzz/fwd/xdp_obj.o: $(B)/fwd/bpf/coop_xdp.bpf.o
$(B)/fuzz/fwd/xdp_obj.o: FUZZ_CFLAGS += -DCOOP_XDP_OBJ='"$(B)/fwd/bpf/coop_xdp.bpf.o"'

$(FUZZ_LIB): $(LIB_SRCS:%.c=$(B)/fuzz/%.o)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/tests/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB)
	$(call msg,LD-FUZZ,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB) $(LDLIBS)

deps:
	$(Q)bash tools/install-deps.sh

unit: $(UNIT_BINS)
	$(Q)bash tests/unit/run.sh $(UNIT_BINS) tests/unit/layers.sh

integration: all
	$(Q)B=$(B) bash tests/integration/run.sh

fuzz-check: $(FUZZ_BINS)
	$(Q)bash tests/fuzz/run.sh $(FUZZ_CHECK_TIME) $(FUZZ_BINS)

fuzz: deps
	$(Q)$(MAKE) --no-print-directory $(FUZZ_BINS)
	$(Q)bash tests/fuzz/run.sh $(FUZZ_TIME) $(FUZZ_BINS)

ifeq ($(SANITIZE),)
check: deps
	$(Q)$(MAKE) --no-print-directory all $(UNIT_BINS) $(FUZZ_BINS)
	$(Q)$(MAKE) --no-print-directory -k unit integration fuzz-check
else
# The fuzzers carry their own sanitizers: a sanitized check runs the rest.
check: deps
	$(Q)$(MAKE) --no-print-directory all $(UNIT_BINS)
	$(Q)$(MAKE) --no-print-directory -k unit integration
endif

run: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)bash examples/demo.sh

bench:
	$(Q)bash tools/install-deps.sh bench
	$(Q)$(MAKE) --no-print-directory all $(BENCH_BINS)
	$(Q)for s in bench/*/run.sh; do [ -f "$$s" ] || continue; echo "== $$s"; bash "$$s" || exit 1; done

install: all
	$(Q)install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)/coop \
		$(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSCONFDIR)/coop
	$(Q)install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	$(Q)install -m 755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/
	$(Q)ln -sf libcoop.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libcoop.so.0
	$(Q)ln -sf libcoop.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libcoop.so
	$(Q)install -m 644 $(PUB_HDRS) $(DESTDIR)$(INCLUDEDIR)/coop/
	$(Q)install -m 755 $(COOPD) $(DESTDIR)$(SBINDIR)/
	$(Q)install -m 755 $(COOPCTL) $(DESTDIR)$(BINDIR)/
	$(Q)install -m 644 etc/*.ini $(DESTDIR)$(SYSCONFDIR)/coop/
	$(Q)install -d $(DESTDIR)$(UNITDIR)
	$(Q)sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		etc/coopd.service.in > $(DESTDIR)$(UNITDIR)/coopd.service
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
		coop.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/coop.pc

help:
	@sed -n '2,16p' Makefile | sed 's/^# \{0,1\}//'

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
