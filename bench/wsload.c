/*
 * wsload: a WebSocket echo load generator for bench/websocket.py.
 *
 * CONNECTIONS client connections each send one masked text message and wait for its echo, in a
 * loop: one thread, level-triggered epoll, the masked frame computed once (RFC 6455 §5.3 lets the
 * key repeat; the server unmasks every byte either way). The first WARMUP seconds are not counted.
 * Server pings are answered with pongs (§5.5.3), so runs may outlast any keep-alive interval.
 *
 *   wsload HOST PORT PATH CONNECTIONS MESSAGE_BYTES WARMUP_SECONDS SECONDS
 *
 * Prints on stdout, flushed line by line:
 *   connected N                       every handshake answered with 101 and the right accept key
 *   measuring                         the warm-up is over
 *   result roundtrips=… seconds=… rate=… p50_us=… p99_us=… max_us=… errors=… cpu_pct=…
 * cpu_pct is this process's own CPU time over the measured wall time: near 100 it was the bottleneck.
 * Built by bench/websocket.sh with `cc -O2`.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* RFC 6455 §1.3's sample key and the accept value a conforming server must derive from it. */
#define KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
/* Latency histogram: 1 µs buckets up to 1 s, then one overflow bucket. */
#define BUCKETS 1000000

struct conn {
    int fd;
    int alive;
    unsigned char *in;       /* received bytes not yet parsed */
    size_t in_len, in_cap;
    unsigned char *out;      /* bytes a full socket buffer refused, sent on EPOLLOUT */
    size_t out_len, out_cap;
    size_t message_bytes;    /* payload of the data message being received (fragments add up) */
    double sent_at;
};

static unsigned char *frame;          /* the masked client frame, sent for every round trip */
static size_t frame_len;
static unsigned char *payload;        /* the unmasked payload the echo must carry */
static size_t payload_len;
static int epfd;
static unsigned long long roundtrips, errors;
static unsigned int *histogram;
static double max_latency;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double cpu_seconds(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (double)r.ru_utime.tv_sec + (double)r.ru_utime.tv_usec * 1e-6
         + (double)r.ru_stime.tv_sec + (double)r.ru_stime.tv_usec * 1e-6;
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static void *grow(void *buffer, size_t *capacity, size_t needed) {
    if (needed <= *capacity) return buffer;
    size_t size = *capacity ? *capacity : 256;
    while (size < needed) size *= 2;
    buffer = realloc(buffer, size);
    if (!buffer) die("realloc");
    *capacity = size;
    return buffer;
}

/* A client frame (§5.2): FIN, the opcode, the mask bit, the length in 7, 16 or 64 bits, the key,
 * the payload XORed with the key. */
static size_t build_frame(unsigned char *out, int opcode, const unsigned char *data, size_t length, const unsigned char key[4]) {
    size_t n = 0;
    out[n++] = (unsigned char)(0x80 | opcode);
    if (length < 126) {
        out[n++] = (unsigned char)(0x80 | length);
    } else if (length < 65536) {
        out[n++] = 0x80 | 126;
        out[n++] = (unsigned char)(length >> 8);
        out[n++] = (unsigned char)length;
    } else {
        out[n++] = 0x80 | 127;
        for (int shift = 56; shift >= 0; shift -= 8) out[n++] = (unsigned char)((uint64_t)length >> shift);
    }
    memcpy(out + n, key, 4);
    n += 4;
    for (size_t i = 0; i < length; i++) out[n + i] = data[i] ^ key[i & 3];
    return n + length;
}

static void drop(struct conn *c) {
    if (!c->alive) return;
    c->alive = 0;
    errors++;
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
}

static void watch(struct conn *c, uint32_t events) {
    struct epoll_event ev = { .events = events, .data.ptr = c };
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl");
}

/* Sends at once when nothing is queued; whatever the socket refuses waits for EPOLLOUT. */
static void send_bytes(struct conn *c, const unsigned char *data, size_t length) {
    if (c->out_len == 0) {
        ssize_t n = send(c->fd, data, length, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) { drop(c); return; }
            n = 0;
        }
        if ((size_t)n == length) return;
        data += n;
        length -= (size_t)n;
        watch(c, EPOLLIN | EPOLLOUT);
    }
    c->out = grow(c->out, &c->out_cap, c->out_len + length);
    memcpy(c->out + c->out_len, data, length);
    c->out_len += length;
}

static void flush_queued(struct conn *c) {
    ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) drop(c);
        return;
    }
    memmove(c->out, c->out + n, c->out_len - (size_t)n);
    c->out_len -= (size_t)n;
    if (c->out_len == 0) watch(c, EPOLLIN);
}

static void send_message(struct conn *c) {
    c->sent_at = now();
    send_bytes(c, frame, frame_len);
}

static void record(double latency) {
    roundtrips++;
    size_t bucket = (size_t)(latency * 1e6);
    histogram[bucket < BUCKETS ? bucket : BUCKETS]++;
    if (latency > max_latency) max_latency = latency;
}

/* Parses every complete server frame in the buffer (§5.2; server frames are unmasked). */
static void parse(struct conn *c) {
    size_t at = 0;
    while (c->alive) {
        size_t avail = c->in_len - at;
        if (avail < 2) break;
        const unsigned char *p = c->in + at;
        int fin = p[0] & 0x80, opcode = p[0] & 0x0f;
        uint64_t length = p[1] & 0x7f;
        size_t head = 2;
        if (p[1] & 0x80) { drop(c); return; }  /* §5.1: a server never masks */
        if (length == 126) {
            if (avail < 4) break;
            length = ((uint64_t)p[2] << 8) | p[3];
            head = 4;
        } else if (length == 127) {
            if (avail < 10) break;
            length = 0;
            for (int i = 2; i < 10; i++) length = (length << 8) | p[i];
            head = 10;
        }
        if (avail < head + length) break;
        const unsigned char *body = p + head;
        at += head + (size_t)length;
        if (opcode == 0x9) {  /* ping: answer with a pong carrying the same data (§5.5.3) */
            unsigned char pong[14 + 125];
            static const unsigned char key[4] = { 0x5a, 0x13, 0xc7, 0x2e };
            send_bytes(c, pong, build_frame(pong, 0xA, body, (size_t)length, key));
        } else if (opcode == 0xA) {
            /* unsolicited pong: ignored (§5.5.3) */
        } else if (opcode == 0x8) {  /* the server closes: counted as an error */
            drop(c);
            return;
        } else {  /* text, binary or continuation */
            if (opcode != 0 && c->message_bytes != 0) { drop(c); return; }
            if (length == payload_len && c->message_bytes == 0 && fin && memcmp(body, payload, payload_len) != 0) { drop(c); return; }
            c->message_bytes += (size_t)length;
            if (fin) {
                if (c->message_bytes != payload_len) { drop(c); return; }
                c->message_bytes = 0;
                record(now() - c->sent_at);
                send_message(c);
            }
        }
    }
    if (!c->alive) return;
    memmove(c->in, c->in + at, c->in_len - at);
    c->in_len -= at;
}

static void on_readable(struct conn *c) {
    c->in = grow(c->in, &c->in_cap, c->in_len + payload_len + 4096);
    ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
        drop(c);
        return;
    }
    c->in_len += (size_t)n;
    parse(c);
}

/* Connects and upgrades one connection with blocking calls; the socket is non-blocking afterwards. */
static int open_connection(struct conn *c, const struct addrinfo *address, const char *host, const char *port, const char *path) {
    int fd = socket(address->ai_family, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    struct timeval timeout = { .tv_sec = 10 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, address->ai_addr, address->ai_addrlen) < 0) { close(fd); return -1; }
    char request[1024];
    int length = snprintf(request, sizeof request,
                          "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n", path, host, port);
    if (send(fd, request, (size_t)length, MSG_NOSIGNAL) != length) { close(fd); return -1; }
    char response[4096];
    size_t got = 0;
    char *end = NULL;
    while (!end) {
        if (got == sizeof response - 1) { close(fd); return -1; }
        ssize_t n = recv(fd, response + got, sizeof response - 1 - got, 0);
        if (n <= 0) { close(fd); return -1; }
        got += (size_t)n;
        response[got] = 0;
        end = strstr(response, "\r\n\r\n");
    }
    if (strncmp(response, "HTTP/1.1 101", 12) != 0 || !strstr(response, ACCEPT)) {
        fprintf(stderr, "wsload: handshake refused: %.*s\n", (int)(end - response), response);
        close(fd);
        return -1;
    }
    c->fd = fd;
    c->alive = 1;
    size_t head = (size_t)(end + 4 - response);
    c->in = grow(c->in, &c->in_cap, got - head + payload_len + 4096);
    memcpy(c->in, response + head, got - head);
    c->in_len = got - head;
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) die("fcntl");
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: wsload HOST PORT PATH CONNECTIONS MESSAGE_BYTES WARMUP_SECONDS SECONDS\n");
        return 2;
    }
    const char *host = argv[1], *port = argv[2], *path = argv[3];
    int connections = atoi(argv[4]);
    payload_len = (size_t)atol(argv[5]);
    double warmup = atof(argv[6]), duration = atof(argv[7]);
    if (connections < 1 || duration <= 0) { fprintf(stderr, "wsload: bad arguments\n"); return 2; }

    /* Printable ASCII, so the text frames are valid UTF-8 (§8.1) for every server to check. */
    payload = malloc(payload_len + 1);
    for (size_t i = 0; i < payload_len; i++) payload[i] = (unsigned char)('a' + i % 26);
    frame = malloc(payload_len + 14);
    unsigned char key[4];
    uint32_t seed = (uint32_t)getpid() * 2654435761u;
    for (int i = 0; i < 4; i++) key[i] = (unsigned char)((seed >> (8 * i)) | 1);
    frame_len = build_frame(frame, 0x1, payload, payload_len, key);
    histogram = calloc(BUCKETS + 1, sizeof *histogram);

    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *address;
    if (getaddrinfo(host, port, &hints, &address) != 0) { fprintf(stderr, "wsload: cannot resolve %s\n", host); return 2; }
    epfd = epoll_create1(0);
    if (epfd < 0) die("epoll_create1");
    struct conn *conns = calloc((size_t)connections, sizeof *conns);
    for (int i = 0; i < connections; i++) {
        if (open_connection(&conns[i], address, host, port, path) < 0) {
            fprintf(stderr, "wsload: connection %d failed\n", i);
            return 1;
        }
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &conns[i] };
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, conns[i].fd, &ev) < 0) die("epoll_ctl");
    }
    printf("connected %d\n", connections);
    fflush(stdout);

    for (int i = 0; i < connections; i++) send_message(&conns[i]);
    double start = now(), measure_from = start + warmup, stop = measure_from + duration;
    double cpu_from = 0;
    int measuring = warmup <= 0;
    if (measuring) { cpu_from = cpu_seconds(); printf("measuring\n"); fflush(stdout); }
    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(epfd, events, 256, 5);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (!c->alive) continue;
            if (events[i].events & EPOLLOUT) flush_queued(c);
            if (c->alive && events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c);
        }
        double t = now();
        if (!measuring && t >= measure_from) {
            measuring = 1;
            roundtrips = 0;
            errors = 0;
            max_latency = 0;
            memset(histogram, 0, (BUCKETS + 1) * sizeof *histogram);
            measure_from = t;
            stop = t + duration;
            cpu_from = cpu_seconds();
            printf("measuring\n");
            fflush(stdout);
        }
        if (measuring && t >= stop) break;
    }
    double seconds = now() - measure_from;
    double cpu = cpu_seconds() - cpu_from;
    double p50 = 0, p99 = 0;
    unsigned long long seen = 0;
    for (size_t b = 0; b <= BUCKETS && roundtrips > 0; b++) {
        seen += histogram[b];
        if (p50 == 0 && seen * 2 >= roundtrips) p50 = (double)b + 0.5;
        if (seen * 100 >= roundtrips * 99) { p99 = (double)b + 0.5; break; }
    }
    printf("result roundtrips=%llu seconds=%.3f rate=%.1f p50_us=%.1f p99_us=%.1f max_us=%.1f errors=%llu cpu_pct=%.1f\n",
           roundtrips, seconds, (double)roundtrips / seconds, p50, p99, max_latency * 1e6, errors, 100 * cpu / seconds);
    fflush(stdout);
    return 0;
}
