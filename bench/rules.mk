# bench/rules.mk - `make bench`, the benchmark harness (bench/README.md). Included by the
# Makefile; not part of `make test`. Uses CC, CPPFLAGS, CFLAGS, LDFLAGS, LIBS, BUILD, PYTHON.
#
#   make bench-deps                     the bench venv .venv-bench (peers that conflict with .venv)
#   make bench                          everything, default sizes (see bench/README.md for time)
#   make bench BENCH_QUICK=1            a smoke run: small sets, 1 repeat; results in
#                                       $(BUILD)/bench-quick, never in bench/results
#   make bench BENCH_SIZE_GB=4 BENCH_REPEATS=7
#   make bench BENCH_ONLY=c             only the C library; BENCH_ONLY=py only Python; or a list:
#                                       pack,open,view,gather,scan,lz4,verify,pyview,pygather,
#                                       pss,warm,epochs,frameworks
#   make bench BENCH_DIR=/mnt/nvme/x    where the data files go (default $(BUILD)/bench-data)
#
# Results: bench/results/latest.md (the table), latest.csv, latest.png, latest-raw.csv.

BENCH_SIZE_GB ?=
BENCH_REPEATS ?=
BENCH_QUICK   ?= 0
BENCH_ONLY    ?=
BENCH_DIR     ?= $(BUILD)/bench-data
BENCH_RESULTS ?= $(if $(filter 1 yes true,$(BENCH_QUICK)),$(BUILD)/bench-quick,bench/results)
# The bench venv: MosaicML Streaming (numpy<2.2), LitData, WebDataset, LMDB, h5py, matplotlib.
BENCH_VENV    ?= .venv-bench
BENCH_PYTHON  ?= $(abspath $(BENCH_VENV))/bin/python
BENCH_REQS    := requirements/bench.txt requirements/bench-lock.txt requirements/torch.txt

# Every timed loop gets the same 64-byte alignment: a one-cycle loop (pointer arithmetic) measured
# 1.08x or 1.39x its baseline from the same source depending only on where the loop fell.
BENCH_CFLAGS  ?= -falign-loops=64

# tc-warm is `tensorcache warm` on its own: tools/warm.c with the option layer it uses.
BENCH_WARM_SRC := tools/warm.c tools/cli.c tools/util.c

.PHONY: bench bench-build bench-deps

# Exactly the pinned list, without resolving: the resolver would add torchvision (pulled by
# Streaming and LitData), which does not import beside torch 2.13.0 here (bench/epochs.py).
bench-deps: $(BENCH_VENV)/.tc-stamp
$(BENCH_VENV)/.tc-stamp: $(BENCH_REQS)
	@$(BOOT_PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { \
	  echo "make bench-deps: $(BOOT_PYTHON) is not CPython 3.11; set BOOT_PYTHON"; exit 1; }
	@[ -x $(BENCH_VENV)/bin/python ] || { echo "make bench-deps: creating $(BENCH_VENV)"; \
	  $(BOOT_PYTHON) -m venv $(BENCH_VENV); }
	@echo "make bench-deps: installing requirements/bench-lock.txt into $(BENCH_VENV)"
	@$(BENCH_VENV)/bin/python -m pip install -q --disable-pip-version-check --no-deps \
	  -c requirements/torch.txt -r requirements/bench-lock.txt
	@touch $@

$(BUILD)/bench/bench_c: bench/bench_c.c include/tensorcache.h $(BUILD)/libtensorcache.a bench/rules.mk
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(BENCH_CFLAGS) -o $@ $< $(BUILD)/libtensorcache.a $(LDFLAGS) $(LIBS) -lz

$(BUILD)/bench/tc-warm: bench/warm_main.c $(BENCH_WARM_SRC) include/tensorcache.h $(BUILD)/libtensorcache.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itools $(CFLAGS) -o $@ bench/warm_main.c $(BENCH_WARM_SRC) $(BUILD)/libtensorcache.a $(LDFLAGS) $(LIBS) -lm

$(BUILD)/bench/limits: bench/limits.c include/tensorcache.h $(BUILD)/libtensorcache.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libtensorcache.a $(LDFLAGS) $(LIBS) -lpthread

bench-build: $(BUILD)/bench/bench_c $(BUILD)/bench/tc-warm $(BUILD)/bench/limits $(BUILD)/libtensorcache.so

bench: bench-build
	$(PYTHON) bench/run.py --build $(BUILD) --dir $(BENCH_DIR) --results $(BENCH_RESULTS) \
	  $(if $(BENCH_SIZE_GB),--size-gb $(BENCH_SIZE_GB)) \
	  $(if $(BENCH_REPEATS),--repeats $(BENCH_REPEATS)) \
	  $(if $(filter 1 yes true,$(BENCH_QUICK)),--quick) \
	  $(if $(BENCH_ONLY),--only $(BENCH_ONLY)) --bench-python $(BENCH_PYTHON)
