/*
 * Per-worker counters in a page shared with the master (a memfd). The page holds stripes of 64-bit
 * counters: stripe 0 is shared by threads that have none of their own (atomic adds); every other
 * stripe belongs to one thread (a worker's loop, a request thread), which adds with a plain
 * load and store, so counting costs no locked instruction on the request path. The master sums
 * the stripes with relaxed loads. Gauges are differences of two counters (started − completed).
 */
#ifndef ARBITER_COUNTERS_H
#define ARBITER_COUNTERS_H

#include <stdint.h>

enum {
    ARBITER_COUNTER_REQUESTS_STARTED = 0,
    ARBITER_COUNTER_REQUESTS_COMPLETED = 1,
    ARBITER_COUNTER_DURATION_MICROS = 2,
    ARBITER_COUNTER_BYTES_RECEIVED = 3,
    ARBITER_COUNTER_BYTES_SENT = 4,
    ARBITER_COUNTER_CONNECTIONS_ACCEPTED = 5,
    ARBITER_COUNTER_CONNECTIONS_CLOSED = 6,
    ARBITER_COUNTER_LOOP_BLOCKS = 7,
    ARBITER_COUNTER_LOOP_BLOCKED_MICROS = 8,
    /* Synchronous-code pool: jobs submitted, taken by a thread, finished; time spent queued. */
    ARBITER_COUNTER_OFFLOAD_SUBMITTED = 9,
    ARBITER_COUNTER_OFFLOAD_STARTED = 10,
    ARBITER_COUNTER_OFFLOAD_FINISHED = 11,
    ARBITER_COUNTER_OFFLOAD_WAIT_MICROS = 12,
    /* Log lines by level: critical, error, warning, info, debug. */
    ARBITER_COUNTER_LOG_LINES = 16,
    /* Request durations: one counter per bucket (not cumulative), the last one past every bound. */
    ARBITER_COUNTER_DURATION_BUCKETS = 24,
    ARBITER_COUNTER_DURATION_BUCKET_COUNT = 15,
    /* Requests by method (10) and status class (6: none, 1xx … 5xx). */
    ARBITER_COUNTER_METHOD_CLASS = 40,
    ARBITER_COUNTER_METHODS = 10,
    ARBITER_COUNTER_CLASSES = 6,
    /* Requests by status code 0 … 599 (0: no response, or a code out of range). */
    ARBITER_COUNTER_STATUS_CODES = 104,
    ARBITER_COUNTER_STATUS_CODE_COUNT = 600,
    /* Fields per stripe (a multiple of 8: stripes stay on their own cache lines). */
    ARBITER_COUNTER_STRIPE_FIELDS = 704,
    /* Bytes before the first stripe. */
    ARBITER_COUNTER_HEADER = 64
};

/// Makes `page` (a counters page of `stripes` stripes) this process's: threads without a stripe of
/// their own count into stripe 0. NULL: counting does nothing.
void arbiter_counters_install(void *page, int stripes);
/// Whether a page is installed (counting does something).
int arbiter_counters_active(void);
/// The calling thread counts into stripe `index` (≥ 1) of the installed page from now on.
void arbiter_counters_adopt(int index);
/// Adds `n` to `field` in the calling thread's stripe.
void arbiter_counters_add(int field, uint64_t n);
/// A request completed: counts it by method/class, status code and duration bucket, and adds its
/// duration.
void arbiter_counters_request(int method_class, int status_code, int bucket, uint64_t micros);
/// A relaxed read of one counter of a page (the master's side).
static inline uint64_t arbiter_counters_read(const void *page, int stripe, int field) {
    const uint64_t *p = (const uint64_t *)((const char *)page + ARBITER_COUNTER_HEADER) +
                        (long)stripe * ARBITER_COUNTER_STRIPE_FIELDS + field;
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

#endif
