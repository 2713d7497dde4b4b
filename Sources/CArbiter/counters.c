#include "arbiter_counters.h"

#include <stddef.h>

/* Set once at worker start, before any other thread exists. */
static uint64_t *installed = NULL;
static int installed_stripes = 0;
/* The stripe only this thread writes, or NULL. */
static _Thread_local uint64_t *own = NULL;

static uint64_t *stripe(int index) {
    return (uint64_t *)((char *)installed + ARBITER_COUNTER_HEADER) + (long)index * ARBITER_COUNTER_STRIPE_FIELDS;
}

void arbiter_counters_install(void *page, int stripes) {
    installed = page;
    installed_stripes = page ? stripes : 0;
}

int arbiter_counters_active(void) { return installed != NULL; }

void arbiter_counters_adopt(int index) {
    own = (installed && index > 0 && index < installed_stripes) ? stripe(index) : NULL;
}

static inline void add_owned(uint64_t *s, int field, uint64_t n) {
    /* One writer: a relaxed load and store, no lock prefix. */
    __atomic_store_n(&s[field], __atomic_load_n(&s[field], __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

void arbiter_counters_add(int field, uint64_t n) {
    if (own) {
        add_owned(own, field, n);
    } else if (installed) {
        __atomic_fetch_add(&stripe(0)[field], n, __ATOMIC_RELAXED);
    }
}

void arbiter_counters_request(int method_class, int status_code, int bucket, uint64_t micros) {
    uint64_t *s = own;
    if (s) {
        add_owned(s, ARBITER_COUNTER_REQUESTS_COMPLETED, 1);
        add_owned(s, ARBITER_COUNTER_DURATION_MICROS, micros);
        add_owned(s, ARBITER_COUNTER_METHOD_CLASS + method_class, 1);
        add_owned(s, ARBITER_COUNTER_STATUS_CODES + status_code, 1);
        add_owned(s, ARBITER_COUNTER_DURATION_BUCKETS + bucket, 1);
    } else if (installed) {
        s = stripe(0);
        __atomic_fetch_add(&s[ARBITER_COUNTER_REQUESTS_COMPLETED], 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&s[ARBITER_COUNTER_DURATION_MICROS], micros, __ATOMIC_RELAXED);
        __atomic_fetch_add(&s[ARBITER_COUNTER_METHOD_CLASS + method_class], 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&s[ARBITER_COUNTER_STATUS_CODES + status_code], 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&s[ARBITER_COUNTER_DURATION_BUCKETS + bucket], 1, __ATOMIC_RELAXED);
    }
}
