# forkless: a plain GNU Makefile.  `make`, `make check`, `make bench`,
# `make install PREFIX=... DESTDIR=...`, `make asan`, `make tsan`, `make fuzz`.

VERSION  := 0.1.0
SOMAJOR  := 0
CC       ?= cc
PREFIX   ?= /usr/local
LIBDIR   ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR   ?= $(PREFIX)/bin
MANDIR   ?= $(PREFIX)/share/man
B        ?= build

CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CPPFLAGS += -Iinclude -Isrc -D_GNU_SOURCE -DFL_LIBDIR='"$(LIBDIR)"'
# SAN: sanitizer flags for `make asan` / `make tsan`; never applied to the
# child side, which runs on a stack and thread pointer the runtime does not know.
SAN      ?=
ALL_CFLAGS = $(CFLAGS) $(WARN) $(CPPFLAGS) -fPIC -fvisibility=hidden -pthread
CHILD_CFLAGS = -fno-stack-protector -fno-builtin -fno-sanitize=all

# The primed image's library (src/primed-*.c) is preloaded into other
# programs: its own objects, never instrumented (see primed-image.c).
PRIMED_SRC := $(wildcard src/primed-*.c)
LIB_SRC  := $(filter-out src/preload.c $(PRIMED_SRC),$(wildcard src/*.c))
LIB_OBJ  := $(LIB_SRC:src/%.c=$(B)/obj/%.o)
PRIMED_OBJ := $(LIB_SRC:src/%.c=$(B)/obj-primed/%.o) $(PRIMED_SRC:src/%.c=$(B)/obj-primed/%.o)
TEST_SRC := $(wildcard tests/t-*.c)
TESTS    := $(TEST_SRC:tests/%.c=$(B)/tests/%)
TEST_SCRIPTS := $(wildcard tests/t-*.sh)
HELPERS  := $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/helper-*.c)) $(B)/tests/helper-fds-dyn
TOOLS_SRC := $(filter-out tools/firstinsn.c tools/prime-proto.c,$(wildcard tools/*.c))

SONAME   := libforkless.so.$(SOMAJOR)
LIBS     := $(B)/libforkless.a $(B)/libforkless.so
ifneq ($(wildcard src/preload.c),)
LIBS     += $(B)/libforkless-preload.so
endif
LIBS     += $(B)/libforkless-primed.so

all: $(LIBS) $(B)/forkless $(B)/firstinsn $(B)/prime-proto.so

# The code that runs in children between clone and exec (and the state
# capture, which the zygote's snapshot child runs): no sanitizer, no stack
# protector, no calls the compiler makes up.
CHILD_OBJ := $(B)/obj/child.o $(B)/obj/child-state.o $(B)/obj/state.o
$(CHILD_OBJ): $(B)/obj/%.o: src/%.c src/*.h include/forkless.h | $(B)/obj
	$(CC) $(filter-out -fsanitize=%,$(ALL_CFLAGS)) $(CHILD_CFLAGS) -c -o $@ $<

$(B)/obj/%.o: src/%.c src/*.h include/forkless.h | $(B)/obj
	$(CC) $(ALL_CFLAGS) $(SAN) -c -o $@ $<

$(B)/obj-primed/%.o: src/%.c src/*.h include/forkless.h | $(B)/obj-primed
	$(CC) $(filter-out -fsanitize=%,$(ALL_CFLAGS)) $(CHILD_CFLAGS) -c -o $@ $<

$(B)/libforkless.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(B)/libforkless.so: $(LIB_OBJ) src/libforkless.map
	$(CC) -shared -pthread -Wl,-soname,$(SONAME) -Wl,--version-script=src/libforkless.map \
		-Wl,-z,defs -Wl,-z,now $(SAN) -o $(B)/libforkless.so.$(VERSION) $(LIB_OBJ)
	ln -sf libforkless.so.$(VERSION) $(B)/$(SONAME)
	ln -sf $(SONAME) $@

$(B)/libforkless-preload.so: $(LIB_OBJ) $(B)/obj/preload.o src/preload.map
	$(CC) -shared -pthread -Wl,--version-script=src/preload.map -Wl,-z,defs -Wl,-z,now \
		$(SAN) -o $@ $(LIB_OBJ) $(B)/obj/preload.o

# Exports __libc_start_main and nothing else.
$(B)/libforkless-primed.so: $(PRIMED_OBJ) src/primed.map
	$(CC) -shared -pthread -Wl,--version-script=src/primed.map -Wl,-z,defs -Wl,-z,now \
		-o $@ $(PRIMED_OBJ) -ldl

# The CLI uses only the public API, linked statically so it runs from build/.
$(B)/forkless: $(TOOLS_SRC) tools/*.h $(B)/libforkless.a include/forkless.h
	$(CC) $(CFLAGS) $(WARN) -Iinclude -D_GNU_SOURCE -pthread $(SAN) -o $@ $(TOOLS_SRC) $(B)/libforkless.a -lm

# The benchmark's child: no libc, static, a few hundred bytes.
$(B)/firstinsn: tools/firstinsn.c | $(B)/obj
	$(CC) -O2 -static -nostdlib -ffreestanding -fno-stack-protector -fno-pie -Wl,-no-pie \
		-fno-asynchronous-unwind-tables -Wall -Wextra -Werror -o $@ $<

# The issue's prototype of a primed start, the yardstick of the primed engine
# (README): preloaded, it forks the program before main and times the copies.
$(B)/prime-proto.so: tools/prime-proto.c | $(B)/obj
	$(CC) $(CFLAGS) $(WARN) -D_GNU_SOURCE -shared -fPIC -fvisibility=hidden -o $@ $< -ldl

# The state helper is the child the tests observe: never instrumented, so a
# sanitizer's own signal handlers and start-up do not show in what it reports.
$(B)/tests/helper-state: tests/helper-state.c | $(B)/tests
	$(CC) $(CFLAGS) $(WARN) -D_GNU_SOURCE -o $@ $<

# The primed engine's program: never instrumented either, since a
# sanitizer's runtime starts threads or must be loaded first, and the
# engine refuses to prime such a program.
$(B)/tests/helper-primed: tests/helper-primed.c | $(B)/tests
	$(CC) $(CFLAGS) $(WARN) -D_GNU_SOURCE -pthread -o $@ $<

# The fd-listing helper of the stress and limit tests: static, so no loader
# or shared libc opens anything in the child before it lists its fds.
$(B)/tests/helper-fds: tests/helper-fds.c | $(B)/tests
	$(CC) $(CFLAGS) $(WARN) -D_GNU_SOURCE -static -o $@ $<

# Its dynamically linked twin, for the primed engine, which refuses a static
# program: the loader's own fds are closed before main, so the listing is
# the same.  Never instrumented, as helper-primed.
$(B)/tests/helper-fds-dyn: tests/helper-fds.c | $(B)/tests
	$(CC) $(CFLAGS) $(WARN) -D_GNU_SOURCE -o $@ $<

$(B)/tests/%: tests/%.c tests/*.h $(B)/libforkless.a | $(B)/tests
	$(CC) $(CFLAGS) $(WARN) -Iinclude -Itests -D_GNU_SOURCE -pthread $(SAN) -o $@ $< $(B)/libforkless.a

# The fuzz targets, which it includes (the zygote's reads src/zygote.h).
$(B)/tests/t-fuzz-replay: tests/t-fuzz-replay.c tests/fuzz/*.c tests/fuzz/fuzz.h tests/*.h src/*.h $(B)/libforkless.a | $(B)/tests
	$(CC) $(CFLAGS) $(WARN) -Iinclude -Itests -Isrc -D_GNU_SOURCE -pthread $(SAN) -o $@ $< $(B)/libforkless.a

$(B)/obj $(B)/obj-primed $(B)/tests:
	mkdir -p $@

# Every test through prove; also a warnings-as-errors build with the other
# compiler, so both gcc and clang stay clean.  Each test's whole output is
# kept in $(B)/logs (tests/tap-log.sh); when prove fails, the logs of the
# tests that failed follow its summary.
check: all $(TESTS) $(HELPERS) other-compiler deps
	@rm -rf $(B)/logs && mkdir -p $(B)/logs
	FL_BUILD=$(abspath $(B)) FL_LOGS=$(abspath $(B))/logs FORKLESS_PRIMED_LIB=$(abspath $(B))/libforkless-primed.so \
		prove -f --exec tests/tap-log.sh $(PROVE_FLAGS) \
		$(TESTS) $(TEST_SCRIPTS) || { tests/tap-log.sh --report $(B)/logs; exit 1; }

# The issue-8 scenario at full size: 8 threads x 750 spawns per engine and form.
stress: all $(B)/tests/t-stress $(HELPERS)
	FL_BUILD=$(abspath $(B)) FL_STRESS_THREADS=8 FL_STRESS_SPAWNS=750 FL_STRESS_TIMEOUT=3600 prove -v $(B)/tests/t-stress

# The Debian packages some tests use (tools/install-deps.sh), as root; a test
# whose tool is still missing says so and skips.
deps:
	@if [ "$$(id -u)" -eq 0 ]; then ./tools/install-deps.sh || echo "install-deps failed: tests that need those tools will skip"; fi

OTHER_CC := $(if $(findstring clang,$(shell $(CC) --version 2>/dev/null | head -1)),gcc,clang)
other-compiler:
	@if [ -n "$(SAN)" ]; then echo "sanitizer run: the $(OTHER_CC) build is the plain check's"; \
	elif command -v $(OTHER_CC) >/dev/null; then \
		$(MAKE) --no-print-directory B=$(B)/$(OTHER_CC) CC=$(OTHER_CC) all $(TESTS:$(B)/%=$(B)/$(OTHER_CC)/%) $(HELPERS:$(B)/%=$(B)/$(OTHER_CC)/%) >/dev/null \
		&& echo "$(OTHER_CC): build clean"; \
	else echo "$(OTHER_CC) not installed: skipped its build"; fi

asan:
	$(MAKE) B=build/asan SAN="-fsanitize=address,undefined -fno-omit-frame-pointer" CFLAGS="-O1 -g" check
tsan:
	$(MAKE) B=build/tsan SAN="-fsanitize=thread" CFLAGS="-O1 -g" check

# Fuzzing with libFuzzer (clang): a build of its own in build/fuzz, so that
# `make check` never pays for it; make check replays the seed corpus and the
# saved crashes instead (tests/t-fuzz-replay.c).  Each target runs FUZZ_TIME
# seconds from tests/fuzz/corpus/NAME; what it learns stays in build/fuzz.
# The inputs are programs of steps: -len_control=0 lets them be long at once,
# where libFuzzer's default grows the length from a few bytes, too slowly
# for a run of a minute.
FUZZ_TIME ?= 60
FUZZ_TARGETS := builders compat zygote
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
fuzz:
	$(MAKE) --no-print-directory B=build/fuzz CC=clang CFLAGS="-O1 -g" \
		SAN="-fsanitize=fuzzer-no-link $(FUZZ_SAN)" $(FUZZ_TARGETS:%=build/fuzz/fuzz-%)
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p build/fuzz/corpus-$$t build/fuzz/crashes; \
		echo "fuzz-$$t: $(FUZZ_TIME) s from tests/fuzz/corpus/$$t (log: build/fuzz/fuzz-$$t.log)"; \
		if build/fuzz/fuzz-$$t -max_total_time=$(FUZZ_TIME) -print_final_stats=1 -max_len=1024 -len_control=0 \
			-artifact_prefix=build/fuzz/crashes/$$t- build/fuzz/corpus-$$t tests/fuzz/corpus/$$t \
			>build/fuzz/fuzz-$$t.log 2>&1; then \
			grep -E '^#[0-9]+.*(pulse|DONE)' build/fuzz/fuzz-$$t.log | tail -1; \
			grep '^stat::' build/fuzz/fuzz-$$t.log; \
		else \
			tail -80 build/fuzz/fuzz-$$t.log; \
			echo "fuzz-$$t FAILED: copy the input from build/fuzz/crashes/ into tests/fuzz/regress/$$t/"; \
			exit 1; \
		fi; \
	done

$(B)/fuzz-%: tests/fuzz/%.c tests/fuzz/fuzz.h tests/*.h $(B)/libforkless.a
	$(CC) $(CFLAGS) $(WARN) -Iinclude -Itests -Isrc -D_GNU_SOURCE -pthread -fsanitize=fuzzer $(SAN) \
		-o $@ $< $(B)/libforkless.a

bench: all
	$(B)/forkless bench

install: all
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(BINDIR) \
		$(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(MANDIR)/man1
	install -m 644 $(B)/libforkless.a $(DESTDIR)$(LIBDIR)/
	install -m 755 $(B)/libforkless.so.$(VERSION) $(DESTDIR)$(LIBDIR)/
	ln -sf libforkless.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libforkless.so
	$(if $(wildcard $(B)/libforkless-preload.so),install -m 755 $(B)/libforkless-preload.so $(DESTDIR)$(LIBDIR)/)
	install -m 755 $(B)/libforkless-primed.so $(DESTDIR)$(LIBDIR)/
	install -m 644 include/forkless.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 755 $(B)/forkless $(DESTDIR)$(BINDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
		-e 's|@VERSION@|$(VERSION)|' forkless.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/forkless.pc
	for m in docs/*.3; do [ -e "$$m" ] && install -m 644 "$$m" $(DESTDIR)$(MANDIR)/man3/; done; true
	for m in docs/*.7; do [ -e "$$m" ] && install -m 644 "$$m" $(DESTDIR)$(MANDIR)/man7/; done; true
	for m in docs/*.1; do [ -e "$$m" ] && install -m 644 "$$m" $(DESTDIR)$(MANDIR)/man1/; done; true

clean:
	rm -rf build

.PHONY: all check stress deps other-compiler asan tsan fuzz bench install clean
