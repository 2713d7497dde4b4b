/*
 * Run-time binding to libz.so.1 (see CZlib.h). The symbols are resolved once under pthread_once;
 * afterwards they are read-only, so any thread may call through them.
 */
#include "CZlib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef const char *(*version_fn)(void);
typedef int (*deflate_init2_fn)(czlib_stream *, int, int, int, int, int, const char *, int);
typedef int (*inflate_init2_fn)(czlib_stream *, int, const char *, int);
typedef int (*stream_flush_fn)(czlib_stream *, int);
typedef int (*stream_fn)(czlib_stream *);

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int loaded;
static char load_error[256];
static const char *library_version;
static deflate_init2_fn p_deflateInit2_;
static stream_flush_fn p_deflate;
static stream_fn p_deflateReset;
static stream_fn p_deflateEnd;
static inflate_init2_fn p_inflateInit2_;
static stream_flush_fn p_inflate;
static stream_fn p_inflateReset;
static stream_fn p_inflateEnd;

static void *symbol(void *handle, const char *name) {
    void *address = dlsym(handle, name);
    if (address == NULL && load_error[0] == 0) {
        snprintf(load_error, sizeof load_error, "libz.so.1 lacks %s", name);
    }
    return address;
}

static void load_once(void) {
    void *handle = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        const char *reason = dlerror();
        snprintf(load_error, sizeof load_error, "%s", reason ? reason : "cannot load libz.so.1");
        return;
    }
    version_fn version = (version_fn)symbol(handle, "zlibVersion");
    p_deflateInit2_ = (deflate_init2_fn)symbol(handle, "deflateInit2_");
    p_deflate = (stream_flush_fn)symbol(handle, "deflate");
    p_deflateReset = (stream_fn)symbol(handle, "deflateReset");
    p_deflateEnd = (stream_fn)symbol(handle, "deflateEnd");
    p_inflateInit2_ = (inflate_init2_fn)symbol(handle, "inflateInit2_");
    p_inflate = (stream_flush_fn)symbol(handle, "inflate");
    p_inflateReset = (stream_fn)symbol(handle, "inflateReset");
    p_inflateEnd = (stream_fn)symbol(handle, "inflateEnd");
    if (load_error[0] != 0) {
        return;
    }
    library_version = version();
    /* The stream layout declared in CZlib.h is zlib 1.x's. */
    if (library_version == NULL || library_version[0] != '1') {
        snprintf(load_error, sizeof load_error, "libz.so.1 has unsupported version %s",
                 library_version ? library_version : "(none)");
        return;
    }
    loaded = 1;
}

int czlib_load(void) {
    pthread_once(&once, load_once);
    return loaded;
}

const char *czlib_load_error(void) {
    czlib_load();
    return loaded ? NULL : load_error;
}

int czlib_deflate_init(czlib_stream *stream, int level, int window_bits, int mem_level) {
    return p_deflateInit2_(stream, level, CZLIB_DEFLATED, window_bits, mem_level, CZLIB_DEFAULT_STRATEGY,
                           library_version, (int)sizeof(czlib_stream));
}
int czlib_deflate(czlib_stream *stream, int flush) { return p_deflate(stream, flush); }
int czlib_deflate_reset(czlib_stream *stream) { return p_deflateReset(stream); }
int czlib_deflate_end(czlib_stream *stream) { return p_deflateEnd(stream); }
int czlib_inflate_init(czlib_stream *stream, int window_bits) {
    return p_inflateInit2_(stream, window_bits, library_version, (int)sizeof(czlib_stream));
}
int czlib_inflate(czlib_stream *stream, int flush) { return p_inflate(stream, flush); }
int czlib_inflate_reset(czlib_stream *stream) { return p_inflateReset(stream); }
int czlib_inflate_end(czlib_stream *stream) { return p_inflateEnd(stream); }
