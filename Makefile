# tg: tensors and gradients from the shell.
# `make demo` and `make test` do all the set-up on a fresh Debian 12 machine.

PREFIX   ?= /usr/local
VERSION  := 0.1.0
CC       ?= gcc
CFLAGS   ?= -O2 -g
B        ?= build
WARN     := -std=c11 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L
HDF5_CFLAGS := $(shell pkg-config --cflags hdf5 2>/dev/null)
HDF5_LIBS   := $(shell pkg-config --libs hdf5 2>/dev/null)
BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS   := $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
ALL_CFLAGS  := $(WARN) $(CFLAGS) -Iinclude -Ilib $(HDF5_CFLAGS) $(BLAS_CFLAGS) -fPIC
# OpenBLAS is opened at run time, on the first matmul (lib/backend/blas.c).
LIBS        := $(HDF5_LIBS) -ldl -lm -lpthread
# The programs link HDF5 statically when Debian's static library is there:
# the shared one loads libcurl and some 35 libraries more, whose relocation
# was most of a command's start-up (tg-gen --version: 16 ms, 7 ms without).
HDF5_STATIC := $(wildcard $(patsubst -L%,%/libhdf5.a,$(filter -L%,$(HDF5_LIBS))))
PROG_LIBS   := $(if $(HDF5_STATIC),$(HDF5_STATIC) -lsz -lz,$(HDF5_LIBS)) -ldl -lm -lpthread

# Debian packages the project needs: to build, to test, to run the demo.
PACKAGES := gcc make pkg-config libhdf5-dev hdf5-tools libopenblas-dev \
            bats bats-assert bats-support python3-h5py valgrind graphviz clang-format

LIB_SRC  := $(wildcard lib/*/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/%.o)
CMD_COMMON := $(filter-out cmd/tg-%.c,$(wildcard cmd/*.c))
CMD_OBJ  := $(CMD_COMMON:%.c=$(B)/%.o)
PROGS    := $(patsubst cmd/%.c,bin/%,$(wildcard cmd/tg-*.c))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
HEADERS  := $(wildcard include/tg/*.h include/tg/*.def) $(wildcard lib/*/*.h) $(wildcard cmd/*.h cmd/*/*.h)
# tg-check's modules (sources of cases, runner, report): linked into it alone.
CHECK_OBJ := $(patsubst %.c,$(B)/%.o,$(wildcard cmd/check/*.c))

# vulkan.mk has rules of its own: `make` alone still means `make all`
.DEFAULT_GOAL := all
include vulkan.mk
LIBS     += $(VULKAN_LIBS)
PROG_LIBS += $(VULKAN_LIBS)
PACKAGES += $(VULKAN_PACKAGES)

.SECONDARY:
.PHONY: all deps demo test lint format unit asan asan-run valgrind install uninstall clean bench bench-deps
all: deps $(B)/libtg.a $(B)/libtg.so $(B)/tg.pc $(PROGS)

deps:
	@missing=$$(for p in $(PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$(echo $$missing | sed 's/^/ /')"; \
	  if [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi; \
	  [ -n "$$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial)" ] || $$SUDO apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null \
	  || { $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; } \
	  || { echo "make deps: could not install:$$missing" >&2; exit 1; }; \
	fi

# The CPU kernels: `omp simd` loops (no OpenMP runtime), and no FP traps, so
# that float compares and selects in them may be vectorised; no errno, so sqrt may.
$(B)/lib/backend/cpu.o: ALL_CFLAGS += -fopenmp-simd -fno-trapping-math -fno-math-errno
# The kernels switch over the op table's enums with no default: an op without
# a kernel is a build error.
$(B)/lib/backend/cpu.o $(B)/lib/backend/vulkan.o: ALL_CFLAGS += -Wswitch-enum

$(B)/%.o: %.c $(HEADERS) | deps
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(B)/libtg.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/libtg.so: $(LIB_OBJ)
	$(CC) $(LDFLAGS) -shared -Wl,-soname,libtg.so.0 -Wl,-z,nodelete -o $@ $^ $(LIBS)

$(B)/tg.pc: Makefile
	@mkdir -p build
	@printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' '' \
	  'Name: tg' 'Description: tensors and reverse-mode autograd for C' 'Version: $(VERSION)' \
	  'Requires.private: hdf5' 'Libs: -L$${libdir} -ltg' 'Libs.private: $(VULKAN_LIBS) -ldl -lm -lpthread' \
	  'Cflags: -I$${includedir}' > $@

bin/%: $(B)/cmd/%.o $(CMD_OBJ) $(B)/libtg.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(CMD_OBJ) $(B)/libtg.a $(PROG_LIBS)

$(B)/tests/%: tests/unit/%.c tests/unit/check.h $(wildcard tests/fixtures/*.h) $(B)/libtg.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -Itests/unit -o $@ $< $(B)/libtg.a $(LIBS)

demo: all
	@echo "# y = 2x + 3 + 3 N(0,1), x ~ U(0,20): the first 5 of 200 points"
	./bin/tg-gen line --slope 2 --intercept 3 -n 200 --x-range 0,20 --noise 3 --seed 1 --format csv | head -n 6
	@echo "# the same points through a pipe into a fit"
	./bin/tg-gen line --slope 2 --intercept 3 -n 200 --x-range 0,20 --noise 3 --seed 1 | ./bin/tg-fit --format text

test: all $(UNIT_BIN)
	@tests/run $(UNIT_BIN) -- tests/bats/*.bats

unit: all $(UNIT_BIN)
	@tests/run $(UNIT_BIN)

# ASan+UBSan: its own build tree, unit tests only.
asan: deps
	$(MAKE) --no-print-directory B=build/asan \
	  CFLAGS='-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all' \
	  LDFLAGS='-fsanitize=address,undefined' asan-run

asan-run: $(UNIT_BIN)
	ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp UBSAN_OPTIONS=print_stacktrace=1 tests/run $(UNIT_BIN)

valgrind: all $(UNIT_BIN)
	@tests/run --valgrind $(UNIT_BIN)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/tg $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(B)/libtg.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(B)/libtg.so $(DESTDIR)$(PREFIX)/lib/libtg.so.0
	ln -sf libtg.so.0 $(DESTDIR)$(PREFIX)/lib/libtg.so
	install -m 644 include/tg/*.h include/tg/*.def $(DESTDIR)$(PREFIX)/include/tg/
	sed 's|^prefix=.*|prefix=$(PREFIX)|' $(B)/tg.pc > $(DESTDIR)$(PREFIX)/lib/pkgconfig/tg.pc
	install -m 644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/

uninstall:
	rm -f $(PROGS:bin/%=$(DESTDIR)$(PREFIX)/bin/%) $(DESTDIR)$(PREFIX)/lib/libtg.* \
	  $(DESTDIR)$(PREFIX)/lib/pkgconfig/tg.pc $(man/*.1:man/%=$(DESTDIR)$(PREFIX)/share/man/man1/%)
	rm -rf $(DESTDIR)$(PREFIX)/include/tg

clean:
	rm -rf build $(PROGS)

# Benchmarks: timings and ratios, never part of `make test`.
$(B)/bench/%: bench/%.c bench/bench.h $(B)/libtg.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(B)/libtg.a $(LIBS) $(BLAS_LIBS)

BENCH_BIN := $(patsubst bench/%.c,$(B)/bench/%,$(wildcard bench/*.c))
bench: all $(BENCH_BIN)
	B=$(B) bench/gen.sh
	B=$(B) bench/run

# PyTorch for the reference column of `make bench` (never needed by `make test`).
bench-deps:
	@$(MAKE) --no-print-directory deps PACKAGES='python3-torch python3-h5py python3-numpy'

# tg-check loads plugins (dlopen) that must run on this program's libtg, not on
# a second copy with its own grad mode and error state: export all of libtg's
# symbols to them (-rdynamic, the whole archive).
bin/tg-check: $(B)/cmd/tg-check.o $(CHECK_OBJ) $(CMD_OBJ) $(B)/libtg.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -rdynamic -o $@ $< $(CHECK_OBJ) $(CMD_OBJ) \
	  -Wl,--whole-archive $(B)/libtg.a -Wl,--no-whole-archive $(PROG_LIBS)

# One code style (.clang-format); .ci/run checks it before the tests.
FORMAT_SRC = $(filter-out tests/fixtures/%,$(wildcard include/tg/*.h shaders/*.c lib/*/*.c lib/*/*.h cmd/*.c cmd/*.h cmd/*/*.c cmd/*/*.h tests/unit/*.c tests/unit/*.h bench/*.c bench/*.h examples/*.c examples/*/*.c))
lint: deps
	@clang-format --dry-run --Werror $(FORMAT_SRC) && echo "lint: $(words $(FORMAT_SRC)) files in the project style"

format: deps
	clang-format -i $(FORMAT_SRC)
