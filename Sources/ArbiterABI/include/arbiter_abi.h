/*
 * arbiter_abi.h — the versioned C boundary between the arbiter server and an application.
 *
 * Only C types cross this boundary, so a server and an application built separately (different
 * SwiftPM packages, even different AppProtocol versions or languages) can be combined as long as they
 * agree on ARBITER_ABI_VERSION. Every struct starts with its size so it can grow by appending fields.
 *
 * Life cycle, per worker process:
 *   1. the server dlopens the library and calls the exported entry point, a `const arbiter_app *(void)`;
 *   2. it checks `magic` and `abi_version`, then calls `startup` once and waits for `done`;
 *   3. for each request it calls `handle`; the application answers through the exchange's `calls`
 *      (send_head, write, finish) and may read the body with `read`, one read outstanding at a time;
 *   4. the application ends every exchange with exactly one `finish` or `abort`, after which it must not
 *      touch the exchange; the server calls `cancel(token)` when the client goes away before that, and
 *      `release(token)` once the exchange has ended and it will never call `cancel` for it again;
 *   5. on stop it calls `shutdown` and waits for `done`.
 */
#ifndef ARBITER_ABI_H
#define ARBITER_ABI_H

#include <stddef.h>
#include <stdint.h>

enum {
    /// Bumped on any incompatible change; the server refuses a table with another version.
    ARBITER_ABI_VERSION = 1,
    /// "ARBI": tells an arbiter entry point from an unrelated exported function.
    ARBITER_ABI_MAGIC = 0x41524249
};

/// `arbiter_app.flags`: `handle` runs the request to completion on the calling thread (a synchronous
/// application). The server must call it from a thread that may block.
enum { ARBITER_APP_BLOCKING = 1 };

/// Status values passed to completion callbacks.
enum {
    ARBITER_OK = 0,
    /// `read` only: the body is complete; no data.
    ARBITER_END = 1,
    /// The client went away or the connection failed.
    ARBITER_ERR_DISCONNECTED = -1,
    /// The request body broke its framing or exceeded a limit.
    ARBITER_ERR_BAD_BODY = -2,
    /// A call was made in the wrong state (e.g. write before send_head, or after finish).
    ARBITER_ERR_STATE = -3,
    /// `websocket_accept` only: the request is not a valid opening handshake; the server answered it
    /// (400, 405 or 426 with `Sec-WebSocket-Version: 13`) and the exchange has ended.
    ARBITER_ERR_REFUSED = -4
};

/// Kinds of WebSocket data messages (RFC 6455 §5.6).
enum { ARBITER_WS_TEXT = 1, ARBITER_WS_BINARY = 2 };

/// Log levels for `arbiter_host.log`, as syslog priorities.
enum { ARBITER_LOG_ERROR = 3, ARBITER_LOG_WARNING = 4, ARBITER_LOG_INFO = 6, ARBITER_LOG_DEBUG = 7 };

typedef struct arbiter_bytes {
    const uint8_t *base;
    size_t length;
} arbiter_bytes;

typedef struct arbiter_header {
    arbiter_bytes name;
    arbiter_bytes value;
} arbiter_header;

/// A parsed request head. Borrowed: valid only until `handle` returns, so copy what you keep.
typedef struct arbiter_request {
    size_t struct_size;
    arbiter_bytes method;
    arbiter_bytes target;
    uint8_t version_major;
    uint8_t version_minor;
    const arbiter_header *headers;
    size_t header_count;
    arbiter_bytes remote_host;
    uint16_t remote_port;
    arbiter_bytes server_host;
    uint16_t server_port;
    arbiter_bytes scheme;
    /// Declared body length, -1 when chunked (unknown), 0 when there is no body.
    int64_t content_length;
    /* Appended fields: read them only when `struct_size` covers them (servers before TLS lack them). */
    /// Under mutual TLS (`cert_reqs` optional or required), the verified client certificate: its
    /// subject and issuer distinguished names (RFC 2253, "CN=client,O=Example") and the whole
    /// certificate in PEM form. Empty without TLS or without a verified certificate.
    arbiter_bytes client_cert_subject;
    arbiter_bytes client_cert_issuer;
    arbiter_bytes client_cert_pem;
} arbiter_request;

typedef struct arbiter_exchange arbiter_exchange;

typedef void (*arbiter_read_cb)(void *ctx, const uint8_t *data, size_t length, int status);
typedef void (*arbiter_done_cb)(void *ctx, int status);
typedef void (*arbiter_message_cb)(void *ctx, const char *error_or_null);
/// A WebSocket message: `kind` ARBITER_WS_TEXT (UTF-8, validated) or ARBITER_WS_BINARY with
/// ARBITER_OK. With ARBITER_END the connection has closed: `kind` is the peer's close code (1005 when
/// it sent none, 1006 when the connection ended without a closing handshake) and `data` its reason.
/// Data is borrowed for the duration of the call.
typedef void (*arbiter_ws_message_cb)(void *ctx, int kind, const uint8_t *data, size_t length, int status);

/// What an application can do with one request. Callbacks may run inline (before the call returns)
/// or later on another thread; an application must accept both.
typedef struct arbiter_exchange_calls {
    size_t struct_size;
    /// Reads up to `max` body bytes; `cb` gets data with ARBITER_OK, then ARBITER_END, or an error.
    void (*read)(arbiter_exchange *ex, size_t max, void *ctx, arbiter_read_cb cb);
    /// Starts the response. `content_length` -1 means unknown: the server frames it (chunked on 1.1).
    int (*send_head)(arbiter_exchange *ex, uint16_t status, const arbiter_header *headers, size_t count,
                     int64_t content_length);
    /// Queues body bytes; `cb` runs once they are handed to the kernel (backpressure).
    void (*write)(arbiter_exchange *ex, const uint8_t *data, size_t length, void *ctx, arbiter_done_cb cb);
    /// Ends the response, with optional trailers (sent only on chunked responses).
    void (*finish)(arbiter_exchange *ex, const arbiter_header *trailers, size_t count);
    /// Ends the exchange without completing the response (the application failed after send_head):
    /// the server closes the connection so the client cannot mistake a partial body for a whole one.
    void (*abort)(arbiter_exchange *ex);
    /// Sends a whole response at once — head, `length` body bytes (its Content-Length), end — as
    /// send_head, write and finish would, without a completion. Returns what send_head returns; after
    /// ARBITER_OK the exchange has ended. Present when `struct_size` covers it.
    int (*respond)(arbiter_exchange *ex, uint16_t status, const arbiter_header *headers, size_t count,
                   const uint8_t *body, size_t length);

    /* WebSocket (RFC 6455), present when `struct_size` covers them. The server runs the protocol —
     * the handshake's checks, framing, masking, UTF-8, ping/pong, permessage-deflate, the closing
     * handshake, and close 1001 when the worker retires — and the application exchanges messages. */

    /// Answers the request as a WebSocket opening handshake: `101 Switching Protocols` with the chosen
    /// `subprotocol` (NULL for none; it must be one the client offered) and `headers` added. Returns
    /// ARBITER_OK when the connection is now a WebSocket, or ARBITER_ERR_REFUSED when the request is
    /// not a valid handshake (answered by the server, exchange ended). The exchange then lives until
    /// the application ends it with `finish` (closes with 1000 if still open) or `abort` (1011), and
    /// the server calls `cancel(token)` when the connection closes first.
    int (*websocket_accept)(arbiter_exchange *ex, const char *subprotocol, const arbiter_header *headers, size_t count);
    /// Receives the next message (one receive outstanding at a time); see `arbiter_ws_message_cb`.
    /// ARBITER_ERR_DISCONNECTED when the connection is gone.
    void (*websocket_receive)(arbiter_exchange *ex, void *ctx, arbiter_ws_message_cb cb);
    /// Sends a message of `kind`; `cb` runs once it is handed to the kernel or the outgoing buffer has
    /// room (backpressure), with ARBITER_ERR_DISCONNECTED when the connection is closing or gone.
    /// Text must be UTF-8. Several sends may be outstanding; they go out in call order.
    void (*websocket_send)(arbiter_exchange *ex, int kind, const uint8_t *data, size_t length, void *ctx, arbiter_done_cb cb);
    /// Starts the closing handshake with `code` (0: a close frame without a code) and a UTF-8
    /// `reason` of at most 123 bytes; a receive outstanding then ends with ARBITER_END.
    void (*websocket_close)(arbiter_exchange *ex, uint16_t code, const uint8_t *reason, size_t length);
} arbiter_exchange_calls;

/// One request's handle on the server. `server_data` belongs to the server.
struct arbiter_exchange {
    const arbiter_exchange_calls *calls;
    void *server_data;
};

/// What the server offers the application for its whole life in a worker.
typedef struct arbiter_host {
    size_t struct_size;
    uint32_t abi_version;
    /// "sync" or "async".
    const char *worker_class;
    int32_t worker_pid;
    /// Writes one line to the server's error log.
    void *log_ctx;
    void (*log)(void *log_ctx, int level, const char *message, size_t length);
    /// The worker's executor (async worker): run `run(app_ctx, job)` soon on the worker's event loop.
    /// NULL when the worker has none; then the application uses its own default executor.
    void *executor_ctx;
    void (*enqueue)(void *executor_ctx, void *job, void *app_ctx, void (*run)(void *app_ctx, void *job));
    /// A bounded thread pool for synchronous code (async worker). NULL when the calling thread may block.
    void *offload_ctx;
    void (*offload)(void *offload_ctx, void *job, void (*run)(void *job));
    /// How many offloaded jobs run at once (the pool size), for messages.
    int32_t offload_limit;
    /* Appended fields: read them only when `struct_size` covers them (older servers lack them). */
    /// The worker's timers (async worker): run `run(app_ctx, job)` on the worker's event loop once
    /// `delay_ns` nanoseconds have passed (a task's sleep), from any thread. NULL when the worker has
    /// none; then delayed jobs go to the application's default executor.
    void (*enqueue_after)(void *executor_ctx, void *job, void *app_ctx, void (*run)(void *app_ctx, void *job),
                          uint64_t delay_ns);
    /// Non-zero when the calling thread runs the worker's event loop (async worker): there a call
    /// that blocks until the exchange's callback comes would wait forever, since the loop delivers
    /// it. NULL when the worker has no executor.
    int (*on_executor)(void *executor_ctx);
} arbiter_host;

/// The table an application's entry point returns. Lives as long as the process.
typedef struct arbiter_app {
    uint32_t magic;
    uint32_t abi_version;
    size_t struct_size;
    void *ctx;
    /// A short name of the application (its type), for logs.
    const char *name;
    uint32_t flags;
    /// Newline-separated names of the synchronous parts inside an otherwise asynchronous chain, each of
    /// which runs on `offload` when available. Empty when there are none.
    const char *synchronous_parts;
    void (*startup)(void *ctx, const arbiter_host *host, void *done_ctx, arbiter_message_cb done);
    void (*shutdown)(void *ctx, void *done_ctx, arbiter_message_cb done);
    /// Starts a request. Returns a token for cancel/release (may be NULL); a token that is also the
    /// address of the jobs the application enqueues for the request (a Swift task is its own job)
    /// lets the server name the request when one of them holds the loop. It may call the exchange's
    /// calls before it returns. A worker with an executor calls a non-blocking application's `handle`
    /// on that executor's thread (its event loop), so the application may run the request there at
    /// once, until it first waits.
    void *(*handle)(void *ctx, const arbiter_request *request, arbiter_exchange *exchange);
    void (*cancel)(void *ctx, void *token);
    void (*release)(void *ctx, void *token);
} arbiter_app;

/// The type of the exported entry point (`application` in `hello:application`).
typedef const arbiter_app *(*arbiter_entry_point)(void);

#endif
