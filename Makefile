# tensorcache - build, test, demo, install.
#
#   make            build/tensorcache, build/libtensorcache.a, build/libtensorcache.so
#   make demo       Fashion-MNIST from PyTorch into one cache, read by Keras/TF, JAX and PyTorch
#   make demo-c     the C-only demo: pack Fashion-MNIST with the command, read every sample back
#   make test       unit tests (cmocka), end-to-end tests, Python tests, staged install,
#                   corruption sweep, crash/out-of-space harness, bounded fuzzing
#   make fuzz       libFuzzer targets for FUZZ_SECONDS each (tests/fuzz/README.md)
#   make bench      the benchmark harness (bench/README.md); not part of make test
#   make sanitize   the C tests under ASan + UBSan
#   make test-large a field larger than 4 GiB, written and read back, and tf_data over a 2+ GiB
#                   cache (needs ~5 GB of disk)
#   make format-check  the C sources against .clang-format (not in make test yet)
#   make install    PREFIX=/usr/local DESTDIR=
#   make deps       install missing Debian packages (as root), or say what to run, and create the
#                   project venv .venv from requirements/ (a second run installs nothing)

SHELL   := /bin/bash
# The project venv, made by `make deps` from requirements/ with the interpreter BOOT_PYTHON
# (CPython 3.11: the pinned torch is built for it). Debian's /usr/bin/python3 is never used.
VENV        ?= .venv
BOOT_PYTHON ?= python3
PYTHON      ?= $(abspath $(VENV))/bin/python
CC      ?= cc
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
BINDIR  ?= $(PREFIX)/bin
BUILD   ?= build

# The version lives in the header; the SONAME and tensorcache.pc follow it.
VERSION_MAJOR := $(shell sed -n 's/^\#define TC_VERSION_MAJOR \([0-9]*\).*/\1/p' include/tensorcache.h)
VERSION_MINOR := $(shell sed -n 's/^\#define TC_VERSION_MINOR \([0-9]*\).*/\1/p' include/tensorcache.h)
VERSION_PATCH := $(shell sed -n 's/^\#define TC_VERSION_PATCH \([0-9]*\).*/\1/p' include/tensorcache.h)
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)
SONAME  := libtensorcache.so.$(VERSION_MAJOR).$(VERSION_MINOR)

OPT      ?= -O2 -g
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla
CPPFLAGS += -Iinclude -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64
CFLAGS   += -std=c11 $(OPT) $(WARN) -fPIC -fvisibility=hidden
LIB_LIBS := -llz4 -lxxhash
LIBS     := $(LIB_LIBS) -lz
TESTLIBS := -lcmocka

LIB_SRC   := $(wildcard lib/*.c)
TOOL_SRC  := $(wildcard tools/*.c)
TEST_SRC  := $(wildcard tests/unit/test_*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
TOOL_OBJ  := $(TOOL_SRC:%.c=$(BUILD)/obj/%.o)
# main.c and the subcommand table belong to the tensorcache binary only; the rest is shared
# with tc-demo-check.
TOOL_MAIN_OBJ := $(BUILD)/obj/tools/main.o $(BUILD)/obj/tools/commands.o $(BUILD)/obj/tools/demo_check.o
TOOL_LIB_OBJ  := $(filter-out $(TOOL_MAIN_OBJ),$(TOOL_OBJ))
TEST_BIN  := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)

# Debian packages the build, tests and demo need.
DEB_PKGS := gcc make pkg-config liblz4-dev libxxhash-dev zlib1g-dev libcmocka-dev \
            dataset-fashion-mnist clang libclang-rt-14-dev valgrind clang-format

.PHONY: all deps deps-debian deps-venv test test-install test-c test-valgrind test-e2e test-python test-large demo demo-c sanitize install uninstall clean fuzz format-check

all: $(BUILD)/tensorcache $(BUILD)/libtensorcache.a $(BUILD)/libtensorcache.so $(BUILD)/tc-demo-check

$(BUILD)/obj/%.o: %.c include/tensorcache.h $(wildcard lib/*.h tools/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/libtensorcache.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libtensorcache.so: $(LIB_OBJ)
	$(CC) $(CFLAGS) -shared -Wl,-soname,$(SONAME) -o $(BUILD)/$(SONAME) $^ $(LDFLAGS) $(LIB_LIBS)
	ln -sf $(SONAME) $@

$(BUILD)/tensorcache: $(BUILD)/obj/tools/main.o $(BUILD)/obj/tools/commands.o $(TOOL_LIB_OBJ) $(BUILD)/libtensorcache.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LIBS) -lm

$(BUILD)/tc-demo-check: $(BUILD)/obj/tools/demo_check.o $(TOOL_LIB_OBJ) $(BUILD)/libtensorcache.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LIBS) -lm

# Unit tests see the public header only (no -Ilib, no tool objects): what they test is the API.
$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(BUILD)/libtensorcache.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libtensorcache.a $(LDFLAGS) $(LIBS) $(TESTLIBS) -lm

# ---- dependencies -------------------------------------------------------------------------------
deps: deps-debian deps-venv

deps-debian:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "make deps: installing$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	else \
	  echo "make deps: missing Debian packages:$$missing"; \
	  echo "run: sudo apt-get install$$missing"; exit 1; \
	fi

# The venv is rebuilt only when a requirements file changes (the stamp is newer otherwise).
# pip's cache (~/.cache/pip) is reused, so a fresh clone installs from disk.
VENV_REQS := requirements/project.txt requirements/lock.txt requirements/torch.txt
deps-venv: $(VENV)/.tc-stamp
$(VENV)/.tc-stamp: $(VENV_REQS)
	@$(BOOT_PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { \
	  echo "make deps: $(BOOT_PYTHON) is not CPython 3.11 (torch==2.13.0 here is built for 3.11); set BOOT_PYTHON"; exit 1; }
	@[ -x $(VENV)/bin/python ] || { echo "make deps: creating $(VENV)"; $(BOOT_PYTHON) -m venv $(VENV); }
	@echo "make deps: installing requirements/project.txt into $(VENV)"
	@$(VENV)/bin/python -m pip install -q --disable-pip-version-check \
	  -c requirements/lock.txt -c requirements/torch.txt -r requirements/project.txt
	@touch $@

# ---- tests --------------------------------------------------------------------------------------
test: deps all
	@$(MAKE) --no-print-directory test-c test-e2e test-python test-install test-sweep test-crash test-fuzz

test-c: $(TEST_BIN)
	@fail=0; for t in $(TEST_BIN); do \
	  TC_TEST_TMP=$(abspath $(BUILD))/tmp $$t || fail=1; done; \
	if [ $$fail = 0 ]; then echo "C unit tests: all passed"; else echo "C unit tests: FAILED"; exit 1; fi
	@$(MAKE) --no-print-directory test-valgrind

# The loader's threads and ring under valgrind (a few seconds): no leak, no invalid access, every
# thread joined at close. Skipped in the sanitizer build (ASan and valgrind do not mix).
test-valgrind: $(BUILD)/tests/test_loader
	@if [ -n "$(findstring sanitize,$(OPT))" ]; then exit 0; fi; \
	TC_TEST_TMP=$(abspath $(BUILD))/tmp valgrind -q --error-exitcode=9 --leak-check=full \
	  --errors-for-leak-kinds=definite,indirect $(BUILD)/tests/test_loader >$(BUILD)/valgrind.log 2>&1 \
	  && echo "valgrind (test_loader): clean" \
	  || { cat $(BUILD)/valgrind.log; echo "valgrind (test_loader): FAILED"; exit 1; }

test-e2e: all
	@BUILD=$(abspath $(BUILD)) PYTHON=$(PYTHON) sh tests/e2e/run.sh

# pytest from the venv; under CI=true a skipped test fails (python/tests/conftest.py), so the
# torch, TensorFlow, Keras, JAX and Grain tests really run. PYTEST_ARGS narrows it (-k, a file).
PYTEST_ARGS ?= python/tests
test-python: all
	@TENSORCACHE_LIB=$(abspath $(BUILD))/libtensorcache.so TC_BUILD=$(abspath $(BUILD)) \
	  PYTHONPATH=$(abspath python) $(PYTHON) -m pytest -q -rfEs -p no:cacheprovider $(PYTEST_ARGS)

# A field larger than 4 GiB through the C API, and tf_data over a cache larger than 2 GiB
# (opt-in: ~5 GB of disk, a few minutes).
$(BUILD)/tests-large/large_field: tests/large/large_field.c $(BUILD)/libtensorcache.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libtensorcache.a $(LDFLAGS) $(LIBS) $(TESTLIBS)

test-large: $(BUILD)/tests-large/large_field $(BUILD)/libtensorcache.so
	TC_TEST_TMP=$${TC_LARGE_DIR:-$(abspath $(BUILD))/tmp-large} $(BUILD)/tests-large/large_field
	TENSORCACHE_LIB=$(abspath $(BUILD))/libtensorcache.so PYTHONPATH=$(abspath python) \
	  TF_CPP_MIN_LOG_LEVEL=3 $(PYTHON) tests/large/tf_large.py $${TC_LARGE_DIR:-$(abspath $(BUILD))/tmp-large}

sanitize:
	$(MAKE) BUILD=build-san OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  LDFLAGS="-fsanitize=address,undefined" test-c test-e2e

# ---- demo ---------------------------------------------------------------------------------------
# make demo: Fashion-MNIST from a PyTorch Dataset into one cache, read by Keras/TensorFlow, JAX
# and PyTorch (tools/demo.py, under 3 minutes). make demo-c: the C-only path (pack with the
# command, verify, read every sample back through libtensorcache).
FMNIST ?= /usr/share/datasets/fashion-mnist
demo: deps all
	@TENSORCACHE_LIB=$(abspath $(BUILD))/libtensorcache.so PYTHONPATH=$(abspath python) \
	  $(PYTHON) tools/demo.py $(abspath $(BUILD))/demo $(FMNIST)

demo-c: deps all
	@BUILD=$(abspath $(BUILD)) FMNIST=$(FMNIST) sh tools/demo.sh

# ---- install ------------------------------------------------------------------------------------
# Written at install time: it records PREFIX, which may differ between installs.
define TC_PC
prefix=$(PREFIX)
libdir=$(LIBDIR)
includedir=$(INCDIR)

Name: tensorcache
Description: zero-copy dataset cache files
Version: $(VERSION)
Requires.private: liblz4 libxxhash
Libs: -L$${libdir} -ltensorcache
Cflags: -I$${includedir}
endef
export TC_PC

# After (un)installing into a directory the dynamic linker searches (a system prefix such as
# /usr/local or /usr, as root, no DESTDIR), refresh its cache so that programs built with
# `cc $$(pkg-config --cflags --libs tensorcache)` run at once. Staged (DESTDIR) and user prefixes
# are left alone: README.md, "Installing", says what to do there.
LDCONFIG_SYSTEM = if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null && \
	  ldconfig -v -N 2>/dev/null | grep -q "^$(patsubst %/,%,$(LIBDIR)):"; then \
	  echo "ldconfig (a system library directory: $(LIBDIR))"; ldconfig; fi

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR)
	install -m 755 $(BUILD)/tensorcache $(DESTDIR)$(BINDIR)/tensorcache
	install -m 644 $(BUILD)/libtensorcache.a $(DESTDIR)$(LIBDIR)/libtensorcache.a
	install -m 755 $(BUILD)/$(SONAME) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libtensorcache.so
	install -m 644 include/tensorcache.h $(DESTDIR)$(INCDIR)/tensorcache.h
	printf '%s\n' "$$TC_PC" > $(DESTDIR)$(LIBDIR)/pkgconfig/tensorcache.pc
	@$(LDCONFIG_SYSTEM)

# Stage an install, build examples/c/hello.c with pkg-config against it, run it under valgrind
# (uninitialised reads, invalid accesses and leaks fail the test).
VALGRIND ?= valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=all
test-install: all
	@rm -rf $(BUILD)/stage && $(MAKE) --no-print-directory install PREFIX=$(abspath $(BUILD))/stage >/dev/null
	@PKG_CONFIG_PATH=$(abspath $(BUILD))/stage/lib/pkgconfig; export PKG_CONFIG_PATH; \
	  $(CC) -std=c11 -Wall -Wextra -Werror examples/c/hello.c $$(pkg-config --cflags --libs tensorcache) \
	    -Wl,-rpath,$(abspath $(BUILD))/stage/lib -o $(BUILD)/stage/hello && \
	  $(VALGRIND) $(BUILD)/stage/hello $(BUILD)/stage/hello.tc && \
	  $(BUILD)/stage/bin/tensorcache verify $(BUILD)/stage/hello.tc && echo "install: 1 passed, 0 failed"

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/tensorcache $(DESTDIR)$(LIBDIR)/libtensorcache.a \
	  $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libtensorcache.so \
	  $(DESTDIR)$(INCDIR)/tensorcache.h $(DESTDIR)$(LIBDIR)/pkgconfig/tensorcache.pc
	@$(LDCONFIG_SYSTEM)

clean:
	rm -rf build build-san build-fuzz

# ---- style --------------------------------------------------------------------------------------
# The C sources against .clang-format. Not part of `make test` yet: the tree is reformatted once
# (clang-format -i --style=file $(FORMAT_SRC)) when no branch is open, then it joins the tests.
CLANG_FORMAT ?= clang-format
FORMAT_SRC := $(wildcard include/*.h lib/*.c lib/*.h tools/*.c tools/*.h tests/unit/*.c tests/unit/*.h)
format-check:
	@bad=""; for f in $(FORMAT_SRC); do \
	  $(CLANG_FORMAT) --style=file "$$f" | cmp -s "$$f" - || bad="$$bad $$f"; done; \
	if [ -n "$$bad" ]; then echo "format-check: these differ from .clang-format:$$bad"; \
	  echo "format-check: fix with: $(CLANG_FORMAT) -i --style=file$$bad"; exit 1; fi; \
	echo "format-check: $(words $(FORMAT_SRC)) files match .clang-format"

# Fuzzing, corruption sweep and crash-safety harness; the benchmark harness.
-include tests/fuzz/rules.mk
-include bench/rules.mk
