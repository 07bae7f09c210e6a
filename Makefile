# kturn — top-level build.
#   make            build everything (BPF objects, skeletons, binaries, tests)
#   make run        install missing packages, build, run kturnd on 127.0.0.1
#   make test       install, build, run every test (unit, fuzz smoke, integration)
#   make deps       install missing Debian packages (idempotent)
#   make fuzz       build and run the libFuzzer targets (FUZZ_SECONDS each)
#   make bench      benchmarks: direct / kturnd sockmap / splice / coturn -> BENCHMARKS.md
#   make soak       kturnd under churning UDP + RFC 6062 load (SOAK_SECONDS), leak checks
#   make V=1        show full commands; SANITIZE=1 builds with ASan+UBSan
.DEFAULT_GOAL := all

V ?= 0
ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool
PYTHON ?= /usr/bin/python3
SANITIZE ?= 0
FUZZ_SECONDS ?= 30

ifeq ($(SANITIZE),1)
BUILD ?= build-san
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD ?= build
SAN_FLAGS :=
endif

ARCH := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter \
	-Wformat=2 -Wvla
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 $(WARN) -D_GNU_SOURCE -DKTURN_VERSION='"$(VERSION)"' \
	-Iinclude -I$(BUILD)/gen -MMD -MP $(SAN_FLAGS)
LDFLAGS += $(SAN_FLAGS)
LDLIBS := -lbpf -lelf -lz -lssl -lcrypto -lidn -lmicrohttpd -lpthread

# --- BPF -------------------------------------------------------------------
BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(BUILD)/gen/%.skel.h,$(BPF_SRCS))
VMLINUX_H := $(BUILD)/gen/vmlinux.h
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Iinclude -I$(BUILD)/gen -Wall

$(VMLINUX_H):
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(VMLINUX_H) $(wildcard include/kturn/*.h)
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/gen/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf > $@.tmp && mv $@.tmp $@

# --- userspace library ------------------------------------------------------
LIB_DIRS := user/util user/stun user/conf user/net user/turn user/auth user/dataplane user/bench \
	user/ctl user/metrics
LIB_SRCS := $(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c))
LIB_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
LIB := $(BUILD)/libkturn.a

$(BUILD)/obj/%.o: %.c | $(SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

# --- programs -------------------------------------------------------------------
BINS := $(BUILD)/bin/kturnd $(BUILD)/bin/kturnctl $(BUILD)/bin/kturn-bench

$(BUILD)/bin/%: $(BUILD)/obj/user/cmd/%.o $(LIB)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# --- unit tests (cmocka) --------------------------------------------------------
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIB)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -lcmocka -o $@

# --- fuzz targets (clang libFuzzer; codec built with sanitizers) --------------------
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
FUZZ_LIB_SRCS := $(wildcard user/stun/*.c user/util/*.c user/auth/*.c)
FUZZ_FLAGS := -O1 -g -std=gnu11 -D_GNU_SOURCE -Iinclude -I$(BUILD)/gen \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined

$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz.h $(FUZZ_LIB_SRCS) $(wildcard include/kturn/*.h)
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_FLAGS) $< $(FUZZ_LIB_SRCS) -lssl -lcrypto -lidn -lz -o $@

# The whole server on a fake kernel (see tests/fuzz/fuzz_server.c): every
# socket, epoll and pipe call these modules make is --wrap'ed into an
# in-memory fake; clock and randomness are renamed with -D so that
# libFuzzer's own clock stays real.
fuzz_comma := ,
fuzz_space := $(fuzz_empty) $(fuzz_empty)
FUZZ_SERVER_SRCS := $(FUZZ_LIB_SRCS) $(wildcard user/net/*.c user/turn/*.c user/dataplane/*.c \
	user/conf/*.c)
FUZZ_SERVER_WRAP := socket bind listen accept4 connect recv send sendto sendmmsg recvmmsg \
	setsockopt getsockopt shutdown close fcntl pipe2 splice epoll_create1 epoll_ctl \
	epoll_wait eventfd read write
FUZZ_SERVER_FAKE := clock_gettime time getrandom RAND_bytes arc4random_uniform
FUZZ_SERVER_FLAGS := $(foreach f,$(FUZZ_SERVER_FAKE),-D$(f)=fuzz_$(f)) \
	-Wl,$(subst $(fuzz_space),$(fuzz_comma),$(strip $(addprefix --wrap=,$(FUZZ_SERVER_WRAP))))

$(BUILD)/fuzz/fuzz_server: tests/fuzz/fuzz_server.c tests/fuzz/fuzz.h $(FUZZ_SERVER_SRCS) \
		$(wildcard include/kturn/*.h user/*/*.h) | $(SKELS)
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_FLAGS) $(FUZZ_SERVER_FLAGS) $< $(FUZZ_SERVER_SRCS) \
		-lbpf -lelf -lz -lssl -lcrypto -lidn -lpthread -o $@

# --- top-level targets --------------------------------------------------------------
all: $(BPF_OBJS) $(SKELS) $(BINS) $(UNIT_BINS)

deps:
	$(Q)scripts/deps.sh

build-fuzz: $(FUZZ_BINS)

fuzz: deps $(FUZZ_BINS)
	$(Q)BUILD=$(BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/run.sh fuzz

# Not part of make test: SOAK_SECONDS of load, then descriptors, BPF map
# entries and RSS must come back to baseline (see TESTING.md).
SOAK_SECONDS ?= 600
soak: deps all
	$(Q)KTURN_BUILD=$(BUILD) $(PYTHON) tests/soak/soak.py --seconds $(SOAK_SECONDS)

RUN_PORT ?= 3478
RUN_MIN_PORT ?= 61000
RUN_MAX_PORT ?= 61999
run: deps all
	@echo "kturnd on 127.0.0.1:$(RUN_PORT) (UDP+TCP), realm kturn.demo, user demo / demo-password"
	@echo "relay ports $(RUN_MIN_PORT)-$(RUN_MAX_PORT) on 127.0.0.1; loopback peers allowed (demo only)"
	$(Q)exec $(BUILD)/bin/kturnd --listening-ip 127.0.0.1 --listening-port $(RUN_PORT) \
		--realm kturn.demo --lt-cred-mech --user demo:demo-password \
		--min-port $(RUN_MIN_PORT) --max-port $(RUN_MAX_PORT) --allow-loopback-peers \
		--kturn-rfc5766-channels --verbose

test: deps all $(MANS) $(FUZZ_BINS)
	$(Q)BUILD=$(BUILD) PYTHON=$(PYTHON) FUZZ_SECONDS=$(TEST_FUZZ_SECONDS) tests/run.sh

TEST_FUZZ_SECONDS ?= 20

# Benchmarks (issue 5): bench/run.py, < 10 min; BENCH_QUICK=1 ~1 min, BENCH_FULL=1 10,000 pairs.
bench: all
	$(Q)scripts/deps.sh gnuplot-nox # the chart; coturn, bpftool, iproute2 are base deps
	$(Q)KTURN_BIN=$${KTURN_BIN:-$(BUILD)/bin} $(PYTHON) bench/run.py
.PHONY: bench

test-unit: all
	$(Q)BUILD=$(BUILD) tests/run.sh unit

test-integ: all
	$(Q)BUILD=$(BUILD) PYTHON=$(PYTHON) tests/run.sh integ

# --- man pages: generated from --help (help2man), so they cannot drift from the options --
# kturn.conf(5) is written by hand (man/kturn.conf.5); it points to kturnd(8) for the options.
MANS := $(BUILD)/man/kturnd.8 $(BUILD)/man/kturnctl.8 $(BUILD)/man/kturn-bench.1 \
	$(BUILD)/man/kturn.conf.5
MAN_DATE := $(shell date -u +'%B %Y')

$(BUILD)/man/kturnd.8: $(BUILD)/bin/kturnd man/kturnd.h2m
	$(call msg,MAN,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)help2man -N -s 8 -i man/kturnd.h2m -o $@ $(BUILD)/bin/kturnd

$(BUILD)/man/kturnctl.8: $(BUILD)/bin/kturnctl man/kturnctl.h2m
	$(call msg,MAN,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)help2man -N -s 8 -i man/kturnctl.h2m -o $@ $(BUILD)/bin/kturnctl

$(BUILD)/man/kturn-bench.1: $(BUILD)/bin/kturn-bench man/kturn-bench.h2m
	$(call msg,MAN,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)help2man -N -s 1 -i man/kturn-bench.h2m -o $@ $(BUILD)/bin/kturn-bench

$(BUILD)/man/kturn.conf.5: man/kturn.conf.5 VERSION
	$(call msg,MAN,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)sed -e 's|@VERSION@|$(VERSION)|g' -e 's|@DATE@|$(MAN_DATE)|g' $< > $@

man: $(MANS)

# --- install (DESTDIR, PREFIX as usual) ------------------------------------------------
PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
BINDIR ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
MANDIR ?= $(PREFIX)/share/man

install: all $(MANS)
	$(Q)install -D -m 0755 $(BUILD)/bin/kturnd $(DESTDIR)$(SBINDIR)/kturnd
	$(Q)install -D -m 0755 $(BUILD)/bin/kturnctl $(DESTDIR)$(SBINDIR)/kturnctl
	$(Q)install -D -m 0755 $(BUILD)/bin/kturn-bench $(DESTDIR)$(BINDIR)/kturn-bench
	$(Q)install -D -m 0644 $(BUILD)/man/kturnd.8 $(DESTDIR)$(MANDIR)/man8/kturnd.8
	$(Q)install -D -m 0644 $(BUILD)/man/kturnctl.8 $(DESTDIR)$(MANDIR)/man8/kturnctl.8
	$(Q)install -D -m 0644 $(BUILD)/man/kturn-bench.1 $(DESTDIR)$(MANDIR)/man1/kturn-bench.1
	$(Q)install -D -m 0644 $(BUILD)/man/kturn.conf.5 $(DESTDIR)$(MANDIR)/man5/kturn.conf.5
	$(Q)mkdir -p $(DESTDIR)$(UNITDIR)
	$(Q)sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		packaging/kturnd.service.in > $(DESTDIR)$(UNITDIR)/kturnd.service
	$(Q)test -e $(DESTDIR)$(SYSCONFDIR)/kturn/kturn.conf || \
		install -D -m 0600 packaging/kturn.conf $(DESTDIR)$(SYSCONFDIR)/kturn/kturn.conf
	@echo "installed under $(DESTDIR)$(PREFIX); unit $(DESTDIR)$(UNITDIR)/kturnd.service"

clean:
	$(Q)rm -rf build build-san

format:
	$(Q)clang-format -i $$(git ls-files '*.c' '*.h')

.PHONY: all deps run test test-unit test-integ fuzz build-fuzz soak clean format install man
.SECONDARY:

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
