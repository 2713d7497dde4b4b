/*
 * zlib, loaded at run time with dlopen("libz.so.1") so the build needs no zlib headers.
 *
 * Only what permessage-deflate (RFC 7692) uses is declared: the stream structure, as laid out by
 * zlib 1.x (its layout is part of zlib's stable ABI; `stream_size` passed to the *Init2_ functions
 * lets zlib check it), and raw deflate/inflate with reset.
 */
#ifndef C_ZLIB_H
#define C_ZLIB_H

#include <stddef.h>

/// zlib's `z_stream` (zlib.h, 1.x): the same members, types and order.
typedef struct czlib_stream {
    const unsigned char *next_in;
    unsigned int avail_in;
    unsigned long total_in;
    unsigned char *next_out;
    unsigned int avail_out;
    unsigned long total_out;
    const char *msg;
    void *state;
    void *(*zalloc)(void *opaque, unsigned int items, unsigned int size);
    void (*zfree)(void *opaque, void *address);
    void *opaque;
    int data_type;
    unsigned long adler;
    unsigned long reserved;
} czlib_stream;

/* Return codes and flush values (zlib.h). */
enum {
    CZLIB_OK = 0,
    CZLIB_STREAM_END = 1,
    CZLIB_NEED_DICT = 2,
    CZLIB_STREAM_ERROR = -2,
    CZLIB_DATA_ERROR = -3,
    CZLIB_MEM_ERROR = -4,
    CZLIB_BUF_ERROR = -5,
    CZLIB_NO_FLUSH = 0,
    CZLIB_SYNC_FLUSH = 2,
    CZLIB_DEFLATED = 8,
    CZLIB_DEFAULT_STRATEGY = 0,
};

/// Loads libz.so.1 and its symbols once (thread-safe). Returns 1 when usable, else 0 and
/// `czlib_load_error()` says why.
int czlib_load(void);
/// Why loading failed, or NULL after a successful load.
const char *czlib_load_error(void);

/* Thin calls through the loaded symbols; valid only after czlib_load() returned 1. */
int czlib_deflate_init(czlib_stream *stream, int level, int window_bits, int mem_level);
int czlib_deflate(czlib_stream *stream, int flush);
int czlib_deflate_reset(czlib_stream *stream);
int czlib_deflate_end(czlib_stream *stream);
int czlib_inflate_init(czlib_stream *stream, int window_bits);
int czlib_inflate(czlib_stream *stream, int flush);
int czlib_inflate_reset(czlib_stream *stream);
int czlib_inflate_end(czlib_stream *stream);

#endif
