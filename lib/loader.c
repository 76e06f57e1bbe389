/* loader.c - tc_loader: a ring of reusable batch buffers filled by a pool of threads.
 *
 * The ring has P slots; batch b of a pass always goes to slot b % P. A worker claims the lowest
 * unclaimed batch whose slot is free, fills it without holding the lock, and marks it ready. The
 * consumer takes batches strictly in order; the slot it holds is freed on its next call. So at
 * most P batches exist at once and no batch allocates after the first round.
 *
 * Slot states: FREE -> FILLING (a worker owns it) -> READY -> HELD (the consumer owns it) -> FREE.
 * Everything that changes state is under `mu`; the fields a worker reads while filling (order,
 * fields, cache) change only in tc_loader_restart() while no batch is FILLING.
 *
 * Adding a field kind (e.g. a JPEG decoder into a fixed-size slot): one more materialize_fn,
 * chosen in setup_field; docs/HACKING.md ("Adding a field kind to the batch loader") says how. */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* ---- the permutation (contract in tensorcache.h, tc_shuffle_index) ---- */

#define SHUFFLE_ROUNDS 6

static uint64_t mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

typedef struct {
    uint64_t n, mask;
    unsigned half;
    uint64_t key[SHUFFLE_ROUNDS];
} shuffle_key;

static void shuffle_init(shuffle_key *k, uint64_t n, uint64_t seed, uint64_t epoch)
{
    unsigned bits = 2;
    while (bits < 64 && (1ull << bits) < n)
        bits += 2;
    k->n = n;
    k->half = bits / 2;
    k->mask = (1ull << k->half) - 1; /* half <= 32 */
    uint64_t base = mix64(mix64(seed) + epoch);
    for (unsigned r = 0; r < SHUFFLE_ROUNDS; r++)
        k->key[r] = mix64(base + r);
}

static uint64_t feistel(const shuffle_key *k, uint64_t x)
{
    uint64_t l = x >> k->half, r = x & k->mask;
    for (unsigned i = 0; i < SHUFFLE_ROUNDS; i++) {
        uint64_t t = l ^ (mix64(r ^ k->key[i]) & k->mask);
        l = r;
        r = t;
    }
    return (l << k->half) | r;
}

/* Cycle-walking: x stays on i's cycle of the permutation of [0, 2^bits), which contains i < n,
 * so the walk ends; 2^bits < 4n makes it short (fewer than 4 steps on average). */
static uint64_t shuffle_at(const shuffle_key *k, uint64_t i)
{
    uint64_t x = i;
    do
        x = feistel(k, x);
    while (x >= k->n);
    return x;
}

uint64_t tc_shuffle_index(uint64_t i, uint64_t n, uint64_t seed, uint64_t epoch)
{
    if (n <= 1 || i >= n)
        return 0;
    shuffle_key k;
    shuffle_init(&k, n, seed, epoch);
    return shuffle_at(&k, i);
}

/* ---- structures ---- */

enum { SLOT_FREE, SLOT_FILLING, SLOT_READY, SLOT_HELD };

#define WILLNEED_MIN_BYTES (16u << 10) /* samples this large get MADV_WILLNEED before the copy */
#define HOT_FRACTION 0.9                 /* a file this resident is hot: no per-sample advice */

typedef struct tc_worker tc_worker;
typedef struct load_field load_field;
typedef struct slot slot;

/* Writes the samples of batch `s` into its buffer for loaded field number j. */
typedef int (*materialize_fn)(tc_loader *l, tc_worker *w, slot *s, uint32_t j);

struct load_field {
    uint32_t field;
    tc_field_info info;
    uint64_t out_bytes; /* bytes one sample occupies in the slot; 0 for packed variable fields */
    materialize_fn materialize;
};

/* Per slot and loaded field: the public description plus the capacity behind it. */
typedef struct {
    uint64_t cap;      /* bytes allocated at bf.data */
    uint64_t *offsets; /* variable: B + 1 */
    uint64_t *shapes;  /* variable: B * rank */
} slot_field;

struct slot {
    int state;
    uint64_t number; /* batch number in the pass */
    tc_batch batch;
    uint64_t *samples;  /* B */
    tc_batch_field *bf; /* one per loaded field */
    slot_field *sf;
};

struct tc_worker {
    tc_loader *l;
    pthread_t thread;
    tc__block_cache bc;
    uint64_t *sorted; /* B: row numbers sorted by sample, for LZ4 fields */
    uint8_t *scratch; /* for decoders (see HACKING at the top) */
    uint64_t scratch_cap;
};

struct tc_loader {
    const tc_cache *cache;
    uint64_t n;          /* samples in the cache */
    uint64_t B;          /* batch size */
    uint32_t nf;         /* loaded fields */
    load_field *fields;
    uint32_t P;          /* slots */
    slot *slots;
    uint32_t T;          /* threads started */
    tc_worker *workers;
    unsigned flags;
    int mapped;
    int willneed;        /* this pass: MADV_WILLNEED each batch's large samples (cold mapping) */
    /* the pass (changed by restart only) */
    tc_order order;      /* indices points at own_indices */
    uint64_t *own_indices;
    shuffle_key shuffle;
    uint64_t end;        /* positions [order.start, end) are loaded */
    uint64_t nbatches;
    /* shared state, under mu */
    pthread_mutex_t mu;
    pthread_cond_t work_cv;  /* workers: a slot became free, or stop */
    pthread_cond_t ready_cv; /* consumer: a batch is ready, or no batch is filling */
    uint64_t next_claim, next_deliver;
    uint32_t filling;    /* slots in state FILLING */
    int halt;            /* a filled batch failed: claim nothing more in this pass */
    int stopped;         /* the failure was delivered: next() returns STOPPED */
    int stop;            /* closing */
    slot *held;
};

/* ---- filling a batch ---- */

static uint64_t sample_at(const tc_loader *l, uint64_t pos)
{
    switch (l->order.kind) {
    case TC_ORDER_SHUFFLE:
        return shuffle_at(&l->shuffle, pos);
    case TC_ORDER_INDICES:
        return l->order.indices[pos];
    default:
        return pos;
    }
}

/* Records that sample row k of field j failed with the error already in the batch. */
static int sample_error(slot *s, const load_field *lf, uint64_t k, int rc)
{
    tc_batch *b = &s->batch;
    char inner[sizeof b->error.message];
    memcpy(inner, b->error.message, sizeof inner);
    b->status = rc;
    b->error_field = lf->field;
    b->error_sample = s->samples[k];
    snprintf(b->error.message, sizeof b->error.message, "field '%s', sample %llu: %.200s",
             lf->info.name, (unsigned long long)s->samples[k], inner);
    return rc;
}

static void *aligned_buffer(uint64_t bytes)
{
    uint64_t size = tc_align_up(bytes ? bytes : 1, 64);
    return aligned_alloc(64, size);
}

/* A cold mapping in random order, large samples: start every read of the batch before copying
 * the first (one fault at a time would read them one page at a time). */
static void willneed(tc_loader *l, slot *s, const load_field *lf)
{
    if (l->willneed && lf->info.sample_bytes >= WILLNEED_MIN_BYTES)
        tc_prefetch(l->cache, lf->field, s->samples, s->batch.size, NULL);
}

static int materialize_fixed(tc_loader *l, tc_worker *w, slot *s, uint32_t j)
{
    (void)w;
    const load_field *lf = &l->fields[j];
    tc_batch_field *bf = &s->bf[j];
    uint8_t *dst = bf->data;
    const uint64_t sb = lf->out_bytes, size = s->batch.size;
    willneed(l, s, lf);
    tc_span span;
    if (l->mapped && tc_field_span(l->cache, lf->field, &span, NULL) == TC_OK) {
        for (uint64_t k = 0; k < size; k++) /* indices were checked against N */
            memcpy(dst + k * sb, span.base + s->samples[k] * span.stride, sb);
    } else {
        for (uint64_t k = 0; k < size; k++) {
            int rc = tc_read_sample(l->cache, lf->field, s->samples[k], dst + k * sb, sb, NULL,
                                    &s->batch.error);
            if (rc)
                return sample_error(s, lf, k, rc);
        }
    }
    bf->nbytes = size * sb;
    return TC_OK;
}

static int cmp_u64_pair(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* LZ4: rows in block order, so that each block is decoded once per batch. */
static int materialize_lz4(tc_loader *l, tc_worker *w, slot *s, uint32_t j)
{
    const load_field *lf = &l->fields[j];
    tc_batch_field *bf = &s->bf[j];
    uint8_t *dst = bf->data;
    const uint64_t sb = lf->out_bytes, size = s->batch.size;
    for (uint64_t k = 0; k < size; k++)
        w->sorted[2 * k] = s->samples[k], w->sorted[2 * k + 1] = k;
    qsort(w->sorted, size, 2 * sizeof(uint64_t), cmp_u64_pair);
    for (uint64_t q = 0; q < size; q++) {
        uint64_t k = w->sorted[2 * q + 1];
        int rc = tc__read_sample_cached(l->cache, lf->field, s->samples[k], dst + k * sb, sb,
                                        &w->bc, &s->batch.error);
        if (rc)
            return sample_error(s, lf, k, rc);
    }
    bf->nbytes = size * sb;
    return TC_OK;
}

/* Grows a slot buffer to `cap` bytes (contents are not kept: the batch is rewritten). */
static int grow_buffer(tc_batch_field *bf, slot_field *sf, uint64_t cap, tc_error *err)
{
    if (cap <= sf->cap)
        return TC_OK;
    void *p = aligned_buffer(cap);
    if (!p)
        return tc__fail(err, TC_ERR_NOMEM, 0, "out of memory for a %llu-byte batch buffer",
                        (unsigned long long)cap);
    free(bf->data);
    bf->data = p;
    sf->cap = cap;
    return TC_OK;
}

/* Variable shapes: sizes first (each index entry is checked), then one packed copy. */
static int materialize_variable(tc_loader *l, tc_worker *w, slot *s, uint32_t j)
{
    (void)w;
    const load_field *lf = &l->fields[j];
    tc_batch_field *bf = &s->bf[j];
    slot_field *sf = &s->sf[j];
    const uint64_t size = s->batch.size, rank = lf->info.rank;
    tc_error *err = &s->batch.error;
    uint64_t total = 0;
    sf->offsets[0] = 0;
    for (uint64_t k = 0; k < size; k++) {
        uint64_t nb, shape[TC_MAX_RANK];
        int rc = tc_sample_nbytes(l->cache, lf->field, s->samples[k], &nb, shape, err);
        if (rc)
            return sample_error(s, lf, k, rc);
        if (!tc_add(total, nb, &total))
            return sample_error(s, lf, k, tc__fail(err, TC_ERR_OVERFLOW, 0, "batch size overflows"));
        sf->offsets[k + 1] = total;
        memcpy(sf->shapes + k * rank, shape, rank * sizeof shape[0]);
    }
    /* half again as much, so that slowly growing batches do not reallocate every time */
    int rc = grow_buffer(bf, sf, total + total / 2 > total ? total + total / 2 : total, err);
    if (rc)
        return sample_error(s, lf, 0, rc);
    willneed(l, s, lf);
    uint8_t *dst = bf->data;
    for (uint64_t k = 0; k < size; k++) {
        uint64_t nb = sf->offsets[k + 1] - sf->offsets[k];
        rc = tc_read_sample(l->cache, lf->field, s->samples[k], dst + sf->offsets[k], nb, NULL, err);
        if (rc)
            return sample_error(s, lf, k, rc);
    }
    bf->nbytes = total;
    return TC_OK;
}

static void fill_batch(tc_loader *l, tc_worker *w, slot *s)
{
    tc_batch *b = &s->batch;
    uint64_t pos = l->order.start + s->number * l->B;
    b->position = pos;
    b->size = l->end - pos < l->B ? l->end - pos : l->B;
    b->status = TC_OK;
    b->error_field = 0;
    b->error_sample = 0;
    memset(&b->error, 0, sizeof b->error);
    for (uint64_t k = 0; k < b->size; k++)
        s->samples[k] = sample_at(l, pos + k);
    for (uint32_t j = 0; j < l->nf; j++)
        if (l->fields[j].materialize(l, w, s, j) != TC_OK)
            return;
}

/* ---- threads ---- */

static slot *claimable(tc_loader *l)
{
    if (l->stop || l->halt || l->next_claim >= l->nbatches)
        return NULL;
    slot *s = &l->slots[l->next_claim % l->P];
    return s->state == SLOT_FREE ? s : NULL;
}

static void *worker_main(void *arg)
{
    tc_worker *w = arg;
    tc_loader *l = w->l;
    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        slot *s = claimable(l);
        if (!s) {
            pthread_cond_wait(&l->work_cv, &l->mu);
            continue;
        }
        s->state = SLOT_FILLING;
        s->number = l->next_claim++;
        l->filling++;
        pthread_mutex_unlock(&l->mu);
        fill_batch(l, w, s);
        pthread_mutex_lock(&l->mu);
        s->state = SLOT_READY;
        l->filling--;
        if (s->batch.status != TC_OK)
            l->halt = 1;
        pthread_cond_broadcast(&l->ready_cv);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* ---- setup ---- */

static int setup_field(tc_loader *l, load_field *lf, uint32_t field, tc_error *err)
{
    int rc = tc_describe_field(l->cache, field, &lf->info, err);
    if (rc != TC_OK)
        return rc;
    lf->field = field;
    if (lf->info.variable) {
        lf->out_bytes = 0;
        lf->materialize = materialize_variable;
    } else {
        lf->out_bytes = lf->info.sample_bytes;
        lf->materialize = lf->info.codec == TC_CODEC_LZ4 ? materialize_lz4 : materialize_fixed;
    }
    return TC_OK;
}

static int setup_slot(tc_loader *l, slot *s, tc_error *err)
{
    s->samples = calloc(l->B, sizeof *s->samples);
    s->bf = calloc(l->nf, sizeof *s->bf);
    s->sf = calloc(l->nf, sizeof *s->sf);
    if (!s->samples || !s->bf || !s->sf)
        return tc__fail(err, TC_ERR_NOMEM, 0, "tc_loader: out of memory for a batch slot");
    s->batch.samples = s->samples;
    s->batch.fields = s->bf;
    s->batch.num_fields = l->nf;
    for (uint32_t j = 0; j < l->nf; j++) {
        const load_field *lf = &l->fields[j];
        tc_batch_field *bf = &s->bf[j];
        slot_field *sf = &s->sf[j];
        bf->field = lf->field;
        bf->dtype = lf->info.dtype;
        bf->rank = lf->info.rank;
        bf->variable = lf->info.variable;
        bf->sample_bytes = lf->out_bytes;
        bf->shape = lf->info.variable ? NULL : lf->info.shape;
        uint64_t bytes;
        if (!tc_mul(l->B, lf->out_bytes, &bytes) || bytes > UINT64_MAX / 2)
            return tc__fail(err, TC_ERR_OVERFLOW, 0,
                            "tc_loader: field '%s': batch of %llu samples overflows",
                            lf->info.name, (unsigned long long)l->B);
        if (grow_buffer(bf, sf, bytes ? bytes : 64, err))
            return TC_ERR_NOMEM;
        if (lf->info.variable) {
            sf->offsets = calloc(l->B + 1, sizeof *sf->offsets);
            sf->shapes = calloc(l->B * (lf->info.rank ? lf->info.rank : 1), sizeof *sf->shapes);
            if (!sf->offsets || !sf->shapes)
                return tc__fail(err, TC_ERR_NOMEM, 0, "tc_loader: out of memory for offsets");
            bf->offsets = sf->offsets;
            bf->shapes = sf->shapes;
        }
    }
    return TC_OK;
}

static void free_slot(tc_loader *l, slot *s)
{
    for (uint32_t j = 0; s->bf && j < l->nf; j++) {
        free(s->bf[j].data);
        if (s->sf) {
            free(s->sf[j].offsets);
            free(s->sf[j].shapes);
        }
    }
    free(s->bf);
    free(s->sf);
    free(s->samples);
}

/* Checks `o` and derives the pass: indices copied to *idx (the caller frees), *end, *nbatches. */
static int check_order(const tc_loader *l, const tc_order *o, uint64_t **idx, uint64_t *end,
                       uint64_t *nbatches, tc_error *err)
{
    *idx = NULL;
    if (o->kind < TC_ORDER_SEQUENTIAL || o->kind > TC_ORDER_INDICES)
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "tc_loader: unknown order kind %d", o->kind);
    uint64_t total = l->n;
    if (o->kind == TC_ORDER_INDICES) {
        if (o->num_indices && !o->indices)
            return tc__fail(err, TC_ERR_INVALID_ARG, 0, "tc_loader: indices is NULL");
        for (uint64_t p = 0; p < o->num_indices; p++)
            if (o->indices[p] >= l->n)
                return tc__fail(err, TC_ERR_RANGE, 0,
                                "tc_loader: indices[%llu] = %llu is out of range (N = %llu)",
                                (unsigned long long)p, (unsigned long long)o->indices[p],
                                (unsigned long long)l->n);
        total = o->num_indices;
        if (total > SIZE_MAX / sizeof(uint64_t))
            return tc__fail(err, TC_ERR_OVERFLOW, 0, "tc_loader: too many indices");
        *idx = malloc(total ? total * sizeof(uint64_t) : 1);
        if (!*idx)
            return tc__fail(err, TC_ERR_NOMEM, 0, "tc_loader: out of memory for the indices");
        if (total)
            memcpy(*idx, o->indices, total * sizeof(uint64_t));
    }
    if (o->start > total) {
        free(*idx);
        *idx = NULL;
        return tc__fail(err, TC_ERR_INVALID_ARG, 0,
                        "tc_loader: start %llu is past the end of the order (%llu positions)",
                        (unsigned long long)o->start, (unsigned long long)total);
    }
    uint64_t avail = total - o->start;
    *end = total;
    *nbatches = o->drop_last ? avail / l->B : avail / l->B + (avail % l->B != 0);
    return TC_OK;
}

/* Advice for a pass. On a hot mapping (HOT_FRACTION resident, checked with mincore once per
 * pass) the per-batch MADV_WILLNEED is skipped: it would cost a system call per sample for
 * nothing. */
static void advise(tc_loader *l)
{
    l->willneed = 0;
    if (l->flags & TC_LOADER_NO_ADVICE)
        return;
    int random = l->order.kind != TC_ORDER_SEQUENTIAL;
    tc_advise(l->cache, TC_ALL_FIELDS, random ? TC_ADVICE_RANDOM : TC_ADVICE_SEQUENTIAL,
              NULL); /* a hint: failure changes nothing */
    l->willneed = random && l->mapped && tc__resident_fraction(l->cache) < HOT_FRACTION;
}

/* Installs a checked order (the loader must be idle: no slot FILLING). */
static void set_order(tc_loader *l, const tc_order *o, uint64_t *idx, uint64_t end,
                      uint64_t nbatches)
{
    free(l->own_indices);
    l->own_indices = idx;
    l->order = *o;
    l->order.indices = idx;
    l->end = end;
    l->nbatches = nbatches;
    if (o->kind == TC_ORDER_SHUFFLE)
        shuffle_init(&l->shuffle, l->n, o->seed, o->epoch);
    l->next_claim = l->next_deliver = 0;
    l->halt = l->stopped = 0;
    l->held = NULL;
    for (uint32_t p = 0; p < l->P; p++)
        l->slots[p].state = SLOT_FREE;
    advise(l);
}

static uint32_t default_threads(const tc_loader *l)
{
    if (!l->mapped)
        return 16; /* I/O bound: the threads are the reads in flight */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus < 1 ? 1 : cpus > 16 ? 16 : (uint32_t)cpus;
}

static int setup(tc_loader *l, const tc_loader_options *opt, tc_error *err)
{
    l->nf = opt->fields ? opt->num_fields : tc_num_fields(l->cache);
    l->fields = calloc(l->nf ? l->nf : 1, sizeof *l->fields);
    if (!l->fields)
        return tc__fail(err, TC_ERR_NOMEM, 0, "tc_loader: out of memory");
    for (uint32_t j = 0; j < l->nf; j++) {
        int rc = setup_field(l, &l->fields[j], opt->fields ? opt->fields[j] : j, err);
        if (rc)
            return rc;
    }
    l->T = opt->num_threads ? opt->num_threads : default_threads(l);
    l->P = opt->prefetch ? opt->prefetch : l->T + 2;
    l->slots = calloc(l->P, sizeof *l->slots);
    l->workers = calloc(l->T, sizeof *l->workers);
    if (!l->slots || !l->workers)
        return tc__fail(err, TC_ERR_NOMEM, 0, "tc_loader: out of memory for %u slots", l->P);
    for (uint32_t p = 0; p < l->P; p++) {
        int rc = setup_slot(l, &l->slots[p], err);
        if (rc)
            return rc;
    }
    for (uint32_t t = 0; t < l->T; t++) {
        tc_worker *w = &l->workers[t];
        w->l = l;
        w->bc.field = TC__NO_FIELD;
        w->sorted = malloc(2 * l->B * sizeof *w->sorted);
        if (!w->sorted)
            return tc__fail(err, TC_ERR_NOMEM, 0, "tc_loader: out of memory for a worker");
    }
    return TC_OK;
}

static void free_loader(tc_loader *l, uint32_t started)
{
    if (started) {
        pthread_mutex_lock(&l->mu);
        l->stop = 1;
        pthread_cond_broadcast(&l->work_cv);
        pthread_mutex_unlock(&l->mu);
        for (uint32_t t = 0; t < started; t++)
            pthread_join(l->workers[t].thread, NULL);
    }
    for (uint32_t t = 0; l->workers && t < l->T; t++) {
        free(l->workers[t].bc.buf);
        free(l->workers[t].sorted);
        free(l->workers[t].scratch);
    }
    for (uint32_t p = 0; l->slots && p < l->P; p++)
        free_slot(l, &l->slots[p]);
    free(l->workers);
    free(l->slots);
    free(l->fields);
    free(l->own_indices);
    pthread_cond_destroy(&l->work_cv);
    pthread_cond_destroy(&l->ready_cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

static int check_options(const tc_cache *cache, const tc_loader_options *opt, const tc_order *order,
                         tc_error *err)
{
    if (!cache || !opt || !order)
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "tc_loader_create: cache, opt or order is NULL");
    if (opt->batch_size < 1 || opt->batch_size > ((uint64_t)1 << 32))
        return tc__fail(err, TC_ERR_INVALID_ARG, 0,
                        "tc_loader_create: batch_size %llu is not in 1..2^32",
                        (unsigned long long)opt->batch_size);
    if (opt->fields && (opt->num_fields < 1 || opt->num_fields > TC_MAX_FIELDS))
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "tc_loader_create: num_fields %u is not in 1..%u",
                        opt->num_fields, TC_MAX_FIELDS);
    if (opt->num_threads > 256 || opt->prefetch > 1024)
        return tc__fail(err, TC_ERR_INVALID_ARG, 0,
                        "tc_loader_create: num_threads %u (max 256) or prefetch %u (max 1024)",
                        opt->num_threads, opt->prefetch);
    if (opt->flags & ~TC_LOADER_NO_ADVICE)
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "tc_loader_create: unknown flags 0x%x",
                        opt->flags);
    return TC_OK;
}

int tc_loader_create(tc_loader **out, const tc_cache *cache, const tc_loader_options *opt,
                     const tc_order *order, tc_error *err)
{
    if (!out)
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "tc_loader_create: out is NULL");
    *out = NULL;
    int rc = check_options(cache, opt, order, err);
    if (rc)
        return rc;
    tc_loader *l = calloc(1, sizeof *l);
    if (!l)
        return tc__fail(err, TC_ERR_NOMEM, 0, "tc_loader: out of memory");
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->work_cv, NULL);
    pthread_cond_init(&l->ready_cv, NULL);
    l->cache = cache;
    l->n = tc_num_samples(cache);
    l->B = opt->batch_size;
    l->flags = opt->flags;
    l->mapped = tc__is_mapped(cache);
    uint64_t *idx = NULL, end = 0, nb = 0;
    rc = setup(l, opt, err);
    if (rc == TC_OK)
        rc = check_order(l, order, &idx, &end, &nb, err);
    if (rc) {
        free_loader(l, 0);
        return rc;
    }
    set_order(l, order, idx, end, nb);
    for (uint32_t t = 0; t < l->T; t++) {
        int e = pthread_create(&l->workers[t].thread, NULL, worker_main, &l->workers[t]);
        if (e) {
            free_loader(l, t);
            return tc__fail(err, TC_ERR_NOMEM, e, "tc_loader: cannot start thread %u", t);
        }
    }
    *out = l;
    return TC_OK;
}

/* ---- consumer side ---- */

static void release_held(tc_loader *l)
{
    if (l->held) {
        l->held->state = SLOT_FREE;
        l->held = NULL;
        pthread_cond_broadcast(&l->work_cv);
    }
}

void tc_loader_release(tc_loader *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    release_held(l);
    pthread_mutex_unlock(&l->mu);
}

static void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L)
        ts->tv_sec++, ts->tv_nsec -= 1000000000L;
}

/* Waits (mu held) until the next batch's slot is READY; false on timeout. */
static int wait_ready(tc_loader *l, slot *s, int timeout_ms)
{
    struct timespec ts;
    if (timeout_ms >= 0)
        deadline_in(&ts, timeout_ms);
    while (s->state != SLOT_READY || s->number != l->next_deliver) {
        if (timeout_ms < 0)
            pthread_cond_wait(&l->ready_cv, &l->mu);
        else if (pthread_cond_timedwait(&l->ready_cv, &l->mu, &ts) == ETIMEDOUT)
            return s->state == SLOT_READY && s->number == l->next_deliver;
    }
    return 1;
}

int tc_loader_next(tc_loader *l, const tc_batch **out, int timeout_ms, tc_error *err)
{
    if (!l || !out)
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "tc_loader_next: loader or out is NULL");
    *out = NULL;
    pthread_mutex_lock(&l->mu);
    release_held(l);
    int rc = TC_OK;
    if (l->stopped) {
        rc = tc__fail(err, TC_ERR_STOPPED, 0,
                      "the loader delivered an error and stopped; restart it for a new pass");
    } else if (l->next_deliver < l->nbatches) {
        slot *s = &l->slots[l->next_deliver % l->P];
        if (!wait_ready(l, s, timeout_ms)) {
            rc = tc__fail(err, TC_ERR_TIMEOUT, 0, "no batch ready after %d ms", timeout_ms);
        } else {
            s->state = SLOT_HELD;
            l->held = s;
            l->next_deliver++;
            *out = &s->batch;
            if ((rc = s->batch.status) != TC_OK) {
                l->stopped = 1;
                if (err)
                    *err = s->batch.error;
            }
        }
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

int tc_loader_restart(tc_loader *l, const tc_order *order, tc_error *err)
{
    if (!l || !order)
        return tc__fail(err, TC_ERR_INVALID_ARG, 0, "tc_loader_restart: loader or order is NULL");
    uint64_t *idx, end, nb;
    int rc = check_order(l, order, &idx, &end, &nb, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&l->mu);
    release_held(l);
    l->halt = 1; /* no new claims; wait for the batches being filled */
    while (l->filling)
        pthread_cond_wait(&l->ready_cv, &l->mu);
    set_order(l, order, idx, end, nb);
    pthread_cond_broadcast(&l->work_cv);
    pthread_mutex_unlock(&l->mu);
    return TC_OK;
}

uint64_t tc_loader_num_batches(const tc_loader *l) { return l ? l->nbatches : 0; }
uint32_t tc_loader_num_threads(const tc_loader *l) { return l ? l->T : 0; }

void tc_loader_close(tc_loader *l)
{
    if (l)
        free_loader(l, l->T);
}
