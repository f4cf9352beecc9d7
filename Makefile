# tg: tensors and gradients from the shell.
# `make demo` and `make test` do all the set-up on a fresh Debian 12 machine.
#
# How: nothing that depends on an installed package is computed while this
# file is parsed. The flags that pkg-config gives live in build/config.mk, made
# by a rule that first runs `deps` (which installs the missing PACKAGES). make
# includes that file; when it had to make it, make reads this Makefile again
# from the start, now with the flags (GNU make does this even under -n). So the
# first `make demo` on a bare machine installs, configures and builds in one go,
# and a provisioned machine only pays for one dpkg-query. A new target that
# needs the flags (ALL_CFLAGS, LIBS, PROG_LIBS, ...) goes anywhere in this file
# and uses them as usual; a goal that needs none (and so no packages) goes into
# NO_CONFIG_GOALS. tests/setup-check proves the first run on a bare Debian root.

PREFIX   ?= /usr/local
VERSION  := 0.1.0
CC       ?= gcc
CFLAGS   ?= -O2 -g
B        ?= build
WARN     := -std=c11 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L

# Debian packages the project needs: to build, to test, to run the demo.
# libhdf5-openmpi-dev and OpenMPI: HDF5's MPI build, beside the serial one that
# tg links. So pkg-config hdf5-serial, never hdf5: with both installed, Debian
# points hdf5.pc at the MPI build.
PACKAGES := gcc libc6-dev make pkg-config libhdf5-dev hdf5-tools libopenblas-dev \
            bats bats-assert bats-support python3-h5py python3-numpy time procps valgrind graphviz groff-base clang-format \
            libhdf5-openmpi-dev openmpi-bin libopenmpi-dev

# Goals that need no packages and no flags: they do not make build/config.mk.
NO_CONFIG_GOALS := deps bench-deps packages clean uninstall lint format
CONFIG := build/config.mk
ifneq ($(filter-out $(NO_CONFIG_GOALS),$(or $(MAKECMDGOALS),all)),)
include $(CONFIG)
endif

# MPI=1 (a sub-make of `all`, in build/mpi): the same sources compiled again
# with -DTG_MPI against OpenMPI and parallel HDF5, plus the *_mpi.c files,
# into bin/mpi/tg-fit and bin/mpi/tg-gen, which the plain programs exec when
# an MPI launcher started them (cmd/mpi.c). The plain build links neither.
ifeq ($(MPI),1)
HDF5_CFLAGS := $(HDF5_MPI_CFLAGS) -DTG_MPI
HDF5_LIBS   := $(HDF5_MPI_LIBS)
HDF5_STATIC :=
BIN         := bin/mpi
LIBTG_A     := $(B)/libtg-mpi.a
MPI_SRC     := $(wildcard lib/*/*_mpi.c cmd/*_mpi.c)
else
BIN         := bin
LIBTG_A     := $(B)/libtg.a
MPI_SRC     :=
endif
ALL_CFLAGS  := $(WARN) $(CFLAGS) -Iinclude -Ilib $(HDF5_CFLAGS) $(BLAS_CFLAGS) $(VULKAN_CFLAGS) -fPIC
# OpenBLAS is opened at run time, on the first matmul (lib/backend/blas.c).
LIBS        := $(HDF5_LIBS) -ldl -lm -lpthread
# The programs link HDF5 statically when Debian's static library is there
# (HDF5_STATIC, found by the config rule): the shared one loads libcurl and
# some 35 libraries more, whose relocation was most of a command's start-up
# (tg-gen --version: 16 ms, 7 ms without).
PROG_LIBS   := $(if $(HDF5_STATIC),$(HDF5_STATIC) -lsz -lz,$(HDF5_LIBS)) -ldl -lm -lpthread

LIB_SRC  := $(filter-out %_mpi.c,$(wildcard lib/*/*.c)) $(filter lib/%,$(MPI_SRC))
# tg-fit's modules (options, data, report, outputs): linked into it alone.
FIT_SRC  := $(wildcard cmd/fit/*.c)
CMD_COMMON := $(filter-out cmd/tg-%.c %_mpi.c,$(wildcard cmd/*.c)) $(filter cmd/%,$(MPI_SRC))
ifeq ($(MPI),1)
# Only the files that use HDF5 or MPI are compiled again; the rest (the
# kernels among them: the same code, so the same sums) are the plain build's.
MPI_OWN  := $(MPI_SRC) $(shell grep -l -e 'hdf5\.h' -e 'TG_MPI' $(LIB_SRC) $(CMD_COMMON) $(FIT_SRC) cmd/tg-fit.c cmd/tg-gen.c)
obj = $(if $(filter $(1),$(MPI_OWN)),$(B)/$(1:.c=.o),$(SERIAL_B)/$(1:.c=.o))
LIB_OBJ  := $(foreach f,$(LIB_SRC),$(call obj,$(f)))
CMD_OBJ  := $(foreach f,$(CMD_COMMON),$(call obj,$(f)))
FIT_OBJ  := $(foreach f,$(FIT_SRC),$(call obj,$(f)))
else
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/%.o)
CMD_OBJ  := $(CMD_COMMON:%.c=$(B)/%.o)
FIT_OBJ  := $(FIT_SRC:%.c=$(B)/%.o)
endif
PROGS    := $(patsubst cmd/%.c,bin/%,$(wildcard cmd/tg-*.c))
MPI_PROGS := bin/mpi/tg-fit bin/mpi/tg-gen
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
HEADERS  := $(wildcard include/tg/*.h include/tg/*.def) $(wildcard lib/*/*.h) $(wildcard cmd/*.h cmd/*/*.h)
# tg-check's modules (sources of cases, runner, report): linked into it alone.
CHECK_OBJ := $(patsubst %.c,$(B)/%.o,$(wildcard cmd/check/*.c))

# vulkan.mk has rules of its own: `make` alone still means `make all`
.DEFAULT_GOAL := all
include vulkan.mk
PACKAGES += $(VULKAN_PACKAGES)

.SECONDARY:
.PHONY: all deps packages demo test lint format unit asan asan-run valgrind install uninstall clean bench bench-large bench-deps bench-nist mpi
all: $(B)/libtg.a $(B)/libtg.so $(B)/tg.pc $(PROGS) mpi

# The MPI programs and library (MPI=1 above), in their own build tree.
mpi: $(LIB_OBJ) $(CMD_OBJ) $(FIT_OBJ) $(PROGS:bin/%=$(B)/cmd/%.o)
	@$(MAKE) --no-print-directory B=$(B)/mpi SERIAL_B=$(B) MPI=1 $(MPI_PROGS) $(B)/mpi/libtg-mpi.a
$(B)/libtg-mpi.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# Installs the PACKAGES that are missing (one dpkg-query when none is).
deps:
	@installed="$$(dpkg-query -W -f='$${db:Status-Abbrev}$${Package}\n' $(PACKAGES) 2>/dev/null | awk '$$1 == "ii" { printf " %s", $$2 }') "; \
	missing=$$(for p in $(PACKAGES); do case "$$installed" in *" $$p "*) ;; *) echo $$p ;; esac; done); \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$(echo $$missing | sed 's/^/ /')"; \
	  if [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi; \
	  [ -n "$$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial)" ] || $$SUDO apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null \
	  || { $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; } \
	  || { echo "make deps: could not install:$$missing" >&2; exit 1; }; \
	fi

# The CPU kernels (and lib/fit's per-block sums): `omp simd` loops (no OpenMP runtime), and no FP traps, so
# that float compares and selects in them may be vectorised; no errno, so sqrt may.
$(B)/lib/backend/cpu.o $(B)/lib/backend/cpu_rng.o $(B)/lib/fit/kernels.o: ALL_CFLAGS += -fopenmp-simd -fno-trapping-math -fno-math-errno
# The kernels switch over the op table's enums with no default: an op without
# a kernel is a build error.
$(B)/lib/backend/cpu.o $(B)/lib/backend/vulkan.o: ALL_CFLAGS += -Wswitch-enum

# The flags of the installed packages, for the include above; written only
# after `deps`, and only if pkg-config knows every package (no empty flags).
$(CONFIG): Makefile vulkan.mk | deps
	@mkdir -p $(@D)
	@set -e; pc() { pkg-config "$$@" || { echo "make: pkg-config $$* failed: a package of PACKAGES is missing (make deps)" >&2; exit 1; }; }; \
	hdf5_cflags=$$(pc --cflags hdf5-serial); hdf5_libs=$$(pc --libs hdf5-serial); \
	blas_cflags=$$(pc --cflags openblas); blas_libs=$$(pc --libs openblas); \
	vulkan_cflags=$$(pc --cflags vulkan); \
	hdf5_mpi_cflags="$$(pc --cflags hdf5-openmpi) $$(pc --cflags mpi)"; hdf5_mpi_libs="$$(pc --libs hdf5-openmpi) $$(pc --libs mpi)"; \
	hdf5_static=; for f in $$hdf5_libs; do \
	  case $$f in -L*) if [ -f "$${f#-L}/libhdf5.a" ]; then hdf5_static="$${f#-L}/libhdf5.a"; fi ;; esac; done; \
	printf '%s\n' "# Made by the Makefile after make deps; make clean removes it." \
	  "HDF5_CFLAGS := $$hdf5_cflags" "HDF5_LIBS := $$hdf5_libs" "HDF5_STATIC := $$hdf5_static" \
	  "HDF5_MPI_CFLAGS := $$hdf5_mpi_cflags" "HDF5_MPI_LIBS := $$hdf5_mpi_libs" \
	  "BLAS_CFLAGS := $$blas_cflags" "BLAS_LIBS := $$blas_libs" \
	  "VULKAN_CFLAGS := $$vulkan_cflags" > $@.tmp; \
	mv $@.tmp $@

# The package list, for tests/setup-check --purge-here.
packages:
	@echo $(PACKAGES)

$(B)/%.o: %.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(B)/libtg.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/libtg.so: $(LIB_OBJ)
	$(CC) $(LDFLAGS) -shared -Wl,-soname,libtg.so.0 -Wl,-z,nodelete -o $@ $^ $(LIBS)

$(B)/tg.pc: Makefile $(CONFIG)
	@mkdir -p $(@D)
	@printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' '' \
	  'Name: tg' 'Description: tensors and reverse-mode autograd for C' 'Version: $(VERSION)' \
	  'Requires.private: hdf5-serial' 'Libs: -L$${libdir} -ltg' 'Libs.private: -ldl -lm -lpthread' \
	  'Cflags: -I$${includedir}' > $@

$(BIN)/%: $(B)/cmd/%.o $(CMD_OBJ) $(LIBTG_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(CMD_OBJ) $(LIBTG_A) $(PROG_LIBS)

$(BIN)/tg-fit: $(B)/cmd/tg-fit.o $(FIT_OBJ) $(CMD_OBJ) $(LIBTG_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(FIT_OBJ) $(CMD_OBJ) $(LIBTG_A) $(PROG_LIBS)

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
asan:
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
	install -d $(DESTDIR)$(PREFIX)/libexec/tg
	install -m 755 $(MPI_PROGS) $(DESTDIR)$(PREFIX)/libexec/tg/
	install -m 644 $(B)/mpi/libtg-mpi.a $(DESTDIR)$(PREFIX)/lib/
	install -m 644 $(B)/libtg.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(B)/libtg.so $(DESTDIR)$(PREFIX)/lib/libtg.so.0
	ln -sf libtg.so.0 $(DESTDIR)$(PREFIX)/lib/libtg.so
	install -m 644 include/tg/*.h include/tg/*.def $(DESTDIR)$(PREFIX)/include/tg/
	sed 's|^prefix=.*|prefix=$(PREFIX)|' $(B)/tg.pc > $(DESTDIR)$(PREFIX)/lib/pkgconfig/tg.pc
	install -m 644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/

uninstall:
	rm -rf $(DESTDIR)$(PREFIX)/libexec/tg
	rm -f $(PROGS:bin/%=$(DESTDIR)$(PREFIX)/bin/%) $(DESTDIR)$(PREFIX)/lib/libtg.* $(DESTDIR)$(PREFIX)/lib/libtg-mpi.a \
	  $(DESTDIR)$(PREFIX)/lib/pkgconfig/tg.pc $(patsubst man/%,$(DESTDIR)$(PREFIX)/share/man/man1/%,$(wildcard man/*.1))
	rm -rf $(DESTDIR)$(PREFIX)/include/tg

clean:
	rm -rf build $(PROGS) bin/mpi

# Benchmarks: timings and ratios, never part of `make test`.
$(B)/bench/%: bench/%.c bench/bench.h $(B)/libtg.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(B)/libtg.a $(LIBS) $(BLAS_LIBS)

# fitmpi: the MPI library's API (tg/fit_mpi.h), built like the MPI programs.
$(B)/bench/fitmpi: bench/fitmpi.c bench/bench.h mpi
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CFLAGS) -DTG_MPI -Iinclude $(HDF5_MPI_CFLAGS) $(LDFLAGS) -o $@ $< $(B)/mpi/libtg-mpi.a \
	  $(HDF5_MPI_LIBS) -ldl -lm -lpthread

BENCH_BIN := $(patsubst bench/%.c,$(B)/bench/%,$(wildcard bench/*.c))
bench: all $(BENCH_BIN)
	B=$(B) bench/gen.sh
	B=$(B) bench/run

# NIST's nonlinear regression problems: tg-fit beside scipy's curve_fit (bench/nist/README.md).
bench-nist: all
	cd bench/nist && /usr/bin/python3 compare.py ../../bin/tg-fit

# Data larger than memory: 10^9 points (8 GB) written by tg-gen and fitted by
# tg-fit, with the time and peak RSS of each (N=... for another size).
bench-large: all
	bench/large.sh

# PyTorch for the reference column of `make bench` (never needed by `make test`).
bench-deps:
	@$(MAKE) --no-print-directory deps PACKAGES='python3-torch python3-h5py python3-numpy python3-scipy'

# tg-check loads plugins (dlopen) that must run on this program's libtg, not on
# a second copy with its own grad mode and error state: export all of libtg's
# symbols to them (-rdynamic, the whole archive).
bin/tg-check: $(B)/cmd/tg-check.o $(CHECK_OBJ) $(CMD_OBJ) $(B)/libtg.a
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -rdynamic -o $@ $< $(CHECK_OBJ) $(CMD_OBJ) \
	  -Wl,--whole-archive $(B)/libtg.a -Wl,--no-whole-archive $(PROG_LIBS)

# One code style (.clang-format); .ci/run checks it before the tests.
FORMAT_SRC = $(filter-out tests/fixtures/%,$(wildcard include/tg/*.h lib/*/*.c lib/*/*.h cmd/*.c cmd/*.h cmd/*/*.c cmd/*/*.h tests/unit/*.c tests/unit/*.h tests/fuzz/*.c shaders/*.c bench/*.c bench/*.h examples/*.c examples/*/*.c))
lint: deps
	@clang-format --dry-run --Werror $(FORMAT_SRC) && echo "lint: $(words $(FORMAT_SRC)) files in the project style"

format: deps
	clang-format -i $(FORMAT_SRC)

# ---- the guard against damaged files --------------------------------------------
# test_guard installs the commands' guard (cmd/guard.c) in children that read damaged files.
$(B)/tests/test_guard: tests/unit/test_guard.c tests/unit/check.h $(B)/libtg.a $(B)/cmd/cmd.o $(B)/cmd/guard.o $(B)/cmd/heap.o
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -Itests/unit -Icmd -o $@ $< $(B)/cmd/cmd.o $(B)/cmd/guard.o $(B)/cmd/heap.o $(B)/libtg.a $(LIBS)

# ---- make fuzz ----------------------------------------------------------------
# libFuzzer harnesses (tests/fuzz/fuzz_*.c): the expression language, the text
# reader, and HDF5 input through the guard (each input read in a forked child).
# The library is rebuilt in build/fuzz by Debian's clang with coverage, ASan
# and UBSan; each harness runs a fixed number of inputs from a fixed seed over
# its committed corpus (tests/fuzz/corpus/NAME; HDF5 also tests/damaged-h5),
# so a run is deterministic. A finding is kept in build/fuzz/findings/ and
# fails the target: make it a regression file under tests/ (tests/fuzz/README).
FUZZ_PACKAGES := clang libclang-rt-14-dev
FUZZ_CFLAGS   := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
                 -fno-sanitize-recover=all -Wno-pass-failed
FUZZ_NAMES    := expr text h5
FUZZ_SEED     := 1
FUZZ_ARGS_expr := -runs=100000 -max_len=256
FUZZ_ARGS_text := -runs=100000 -max_len=4096
FUZZ_ARGS_h5   := -runs=600 -max_len=16384 tests/damaged-h5
.PHONY: fuzz fuzz-run
fuzz:
	@$(MAKE) --no-print-directory deps PACKAGES='$(FUZZ_PACKAGES)'
	@$(MAKE) --no-print-directory B=build/fuzz CC=clang CFLAGS='$(FUZZ_CFLAGS)' fuzz-run

fuzz-run: $(FUZZ_NAMES:%=$(B)/fuzz_%)
	@$(foreach h,$(FUZZ_NAMES),tests/fuzz/run $(B)/fuzz_$(h) tests/fuzz/corpus/$(h) -seed=$(FUZZ_SEED) $(FUZZ_ARGS_$(h)) &&) true

$(B)/fuzz_%: tests/fuzz/fuzz_%.c $(B)/libtg.a $(B)/cmd/cmd.o $(B)/cmd/guard.o $(B)/cmd/heap.o
	$(CC) $(ALL_CFLAGS) -Icmd -fsanitize=fuzzer $(LDFLAGS) -o $@ $< $(B)/cmd/cmd.o $(B)/cmd/guard.o $(B)/cmd/heap.o $(B)/libtg.a $(PROG_LIBS)
