# tests/fuzz/rules.mk - fuzzing, corruption sweep, crash safety, out of space.
# Included by the Makefile (it uses CC, CPPFLAGS, LIBS, BUILD). Targets:
#
#   make fuzz [FUZZ_SECONDS=60]  each libFuzzer target (clang, ASan+UBSan) for FUZZ_SECONDS;
#                                crashing inputs are saved in tests/fuzz/crashes/<target>/
#   make test-fuzz               bounded run for `make test`: the saved crashes as regression
#                                inputs, then FUZZ_TEST_SECONDS (10) per target
#   make test-sweep              corruption sweep: every truncation, every byte x 4 values
#   make test-crash              writer killed at every write/fsync/rename/...; out of space
#                                (RLIMIT_FSIZE and a 512 KiB tmpfs)
#   make fuzz-corpus             regenerate the committed seed corpus tests/fuzz/corpus/
#
# Everything builds under $(BUILD)/fuzz, $(BUILD)/sweep and $(BUILD)/crash.

# Guard: the Makefile includes this file; `make -f Makefile -f tests/fuzz/rules.mk` must not
# define every rule twice.
ifndef TCF_RULES_INCLUDED
TCF_RULES_INCLUDED := 1

FUZZ_CC           ?= clang
FUZZ_SECONDS      ?= 60
FUZZ_TEST_SECONDS ?= 10
FUZZ_DIR  := $(BUILD)/fuzz
SWEEP_DIR := $(BUILD)/sweep
CRASH_DIR := $(BUILD)/crash

TCF_WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla
TCF_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
TCF_CFLAGS  := -std=c11 -O1 -g
# TCF_LIB_DIR: the library sources to test (a patched copy can be fuzzed with
# `make fuzz TCF_LIB_DIR=/path BUILD=/other/build`).
TCF_LIB_DIR ?= lib
TCF_LIB_SRC := $(wildcard $(TCF_LIB_DIR)/*.c)
TCF_LIB_HDR := $(wildcard $(TCF_LIB_DIR)/*.h) include/tensorcache.h
TCF_COMMON  := tests/fuzz/exercise.c tests/fuzz/reseal.c
TCF_COMMON_DEPS := $(TCF_COMMON) tests/fuzz/tcfuzz.h

.PHONY: fuzz test-fuzz test-sweep test-crash fuzz-corpus

# ---- libFuzzer targets (the library is instrumented for coverage too) --------------------------
TCF_FUZZ_LIB_OBJ := $(TCF_LIB_SRC:$(TCF_LIB_DIR)/%.c=$(FUZZ_DIR)/lib/%.o)
TCF_FUZZERS      := $(FUZZ_DIR)/fuzz_open $(FUZZ_DIR)/fuzz_roundtrip
.SECONDARY: $(TCF_FUZZ_LIB_OBJ)

$(FUZZ_DIR)/lib/%.o: $(TCF_LIB_DIR)/%.c $(TCF_LIB_HDR)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(TCF_CFLAGS) -Wall -Wextra $(TCF_SAN) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(TCF_COMMON_DEPS) $(TCF_FUZZ_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(TCF_CFLAGS) $(TCF_WARN) $(TCF_SAN) -fsanitize=fuzzer -o $@ \
	  $< $(TCF_COMMON) $(TCF_FUZZ_LIB_OBJ) $(LIBS)

fuzz: $(TCF_FUZZERS)
	@FUZZ_DIR=$(abspath $(FUZZ_DIR)) sh tests/fuzz/run.sh $(FUZZ_SECONDS) keep

test-fuzz: $(TCF_FUZZERS)
	@FUZZ_DIR=$(abspath $(FUZZ_DIR)) sh tests/fuzz/run.sh $(FUZZ_TEST_SECONDS) build

$(FUZZ_DIR)/gen_corpus: tests/fuzz/gen_corpus.c tests/fuzz/reseal.c tests/fuzz/tcfuzz.h $(BUILD)/libtensorcache.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(TCF_CFLAGS) $(TCF_WARN) -o $@ $< tests/fuzz/reseal.c \
	  $(BUILD)/libtensorcache.a $(LIBS)

fuzz-corpus: $(FUZZ_DIR)/gen_corpus
	rm -f tests/fuzz/corpus/open/*.tc tests/fuzz/corpus/roundtrip/seed-*
	@mkdir -p tests/fuzz/corpus/open tests/fuzz/corpus/roundtrip
	@mkdir -p tests/fuzz/crashes/open
	$(FUZZ_DIR)/gen_corpus tests/fuzz/corpus/open tests/fuzz/corpus/roundtrip tests/fuzz/crashes/open
	@du -sh tests/fuzz/corpus

# ---- corruption sweep (ASan + UBSan, $(CC)) -----------------------------------------------------
TCF_SWEEP_LIB_OBJ := $(TCF_LIB_SRC:$(TCF_LIB_DIR)/%.c=$(SWEEP_DIR)/lib/%.o)

$(SWEEP_DIR)/lib/%.o: $(TCF_LIB_DIR)/%.c $(TCF_LIB_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(TCF_CFLAGS) -Wall -Wextra $(TCF_SAN) -c $< -o $@

$(SWEEP_DIR)/sweep: tests/sweep/sweep.c $(TCF_COMMON_DEPS) $(TCF_SWEEP_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(TCF_CFLAGS) $(TCF_WARN) $(TCF_SAN) -o $@ tests/sweep/sweep.c \
	  $(TCF_COMMON) $(TCF_SWEEP_LIB_OBJ) $(LIBS)

test-sweep: $(SWEEP_DIR)/sweep
	@mkdir -p $(BUILD)/tmp
	@UBSAN_OPTIONS=$${UBSAN_OPTIONS:-print_stacktrace=1} TC_TEST_TMP=$(abspath $(BUILD))/tmp \
	  $(SWEEP_DIR)/sweep $(SWEEP_ARGS)

# ---- crash safety and out of space --------------------------------------------------------------
# The shim is built without _FILE_OFFSET_BITS=64 so that pwrite/pwrite64 etc. are separate symbols.
$(CRASH_DIR)/shim.so: tests/crash/shim.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -g $(TCF_WARN) -fPIC -shared -o $@ $< -ldl

$(CRASH_DIR)/%: tests/crash/%.c $(BUILD)/libtensorcache.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(TCF_CFLAGS) $(TCF_WARN) -o $@ $< $(BUILD)/libtensorcache.a $(LIBS)

test-crash: $(CRASH_DIR)/shim.so $(CRASH_DIR)/cwriter $(CRASH_DIR)/crash
	@mkdir -p $(BUILD)/tmp
	@$(CRASH_DIR)/crash $(CRASH_DIR)/cwriter $(CRASH_DIR)/shim.so $(abspath $(BUILD))/tmp
	@sh tests/crash/nospace.sh $(CRASH_DIR)/cwriter $(CRASH_DIR)/shim.so $(abspath $(BUILD))/tmp

endif # TCF_RULES_INCLUDED
