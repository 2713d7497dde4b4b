/* sleepwave PORT CONNECTIONS SECONDS PATH [THREADS]
 *
 * A load client for many slow requests, like `wrk -tTHREADS -cCONNECTIONS` (every connection opened
 * at once, one request at a time, keep-alive), that prints latency percentiles per cycle: cycle k is
 * the k-th request of every connection. With `GET /sleep?seconds=1` all connections start together,
 * so the first cycle is one burst of requests and each later cycle shows whether the server spread
 * that burst out or kept (or tightened) it. wrk prints one percentile table for the whole run.
 *
 * Responses must carry Content-Length (arbiter's and uvicorn's /sleep do); the first 64 cycles are
 * reported. Linux only (epoll). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CYCLES 64
#define BUFFER 4096

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

struct connection {
    int fd;
    int cycle;      /* requests answered so far; -1 while connecting */
    double sent;    /* when the request in flight was written */
    size_t have;    /* bytes of the response read so far */
    char buffer[BUFFER];
};

struct client {
    pthread_t thread;
    int first, count;
    struct connection *connections;
    double *latency[CYCLES]; /* latency[k][i]: the k-th answer of the i-th connection of this thread */
    int answered[CYCLES];
    long errors;
};

static struct sockaddr_in address;
static char request[512];
static int request_length;
static double deadline;

static int send_request(struct connection *c) {
    c->sent = now();
    return write(c->fd, request, request_length) == request_length ? 0 : -1;
}

/* One complete response at the start of the buffer: its length, 0 if incomplete, -1 if unusable. */
static long response_length(const char *data, size_t have) {
    const char *end = memmem(data, have, "\r\n\r\n", 4);
    if (!end) return have >= BUFFER ? -1 : 0;
    long body = -1;
    for (const char *line = memchr(data, '\n', end - data); line && line < end; line = memchr(line + 1, '\n', end - line - 1)) {
        if (end - line > 16 && strncasecmp(line + 1, "content-length:", 15) == 0) body = strtol(line + 16, NULL, 10);
    }
    if (body < 0) return -1;
    size_t total = (size_t)(end + 4 - data) + (size_t)body;
    if (total > BUFFER) return -1;
    return have >= total ? (long)total : 0;
}

static void *run(void *argument) {
    struct client *client = argument;
    int epoll = epoll_create1(0);
    for (int i = 0; i < client->count; i++) {
        struct connection *c = &client->connections[i];
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(c->fd, (struct sockaddr *)&address, sizeof address) != 0 && errno != EINPROGRESS) {
            perror("connect");
            exit(1);
        }
        c->cycle = -1;
        struct epoll_event event = {.events = EPOLLOUT, .data.u32 = (uint32_t)i};
        epoll_ctl(epoll, EPOLL_CTL_ADD, c->fd, &event);
    }
    struct epoll_event events[512];
    while (now() < deadline) {
        int n = epoll_wait(epoll, events, 512, 50);
        for (int e = 0; e < n; e++) {
            uint32_t index = events[e].data.u32;
            struct connection *c = &client->connections[index];
            if (c->fd < 0) continue;
            if (c->cycle < 0) { /* connected: the first request */
                c->cycle = 0;
                struct epoll_event event = {.events = EPOLLIN, .data.u32 = index};
                epoll_ctl(epoll, EPOLL_CTL_MOD, c->fd, &event);
                if (send_request(c) != 0) { client->errors++; close(c->fd); c->fd = -1; }
                continue;
            }
            ssize_t got = read(c->fd, c->buffer + c->have, BUFFER - c->have);
            if (got <= 0) {
                if (got < 0 && errno == EAGAIN) continue;
                client->errors++;
                close(c->fd);
                c->fd = -1;
                continue;
            }
            c->have += (size_t)got;
            long length;
            while ((length = response_length(c->buffer, c->have)) > 0) {
                double latency = now() - c->sent;
                if (c->cycle < CYCLES) client->latency[c->cycle][client->answered[c->cycle]++] = latency;
                c->cycle++;
                memmove(c->buffer, c->buffer + length, c->have - (size_t)length);
                c->have -= (size_t)length;
                if (send_request(c) != 0) { client->errors++; close(c->fd); c->fd = -1; break; }
            }
            if (length < 0) { client->errors++; close(c->fd); c->fd = -1; }
        }
    }
    for (int i = 0; i < client->count; i++) if (client->connections[i].fd >= 0) close(client->connections[i].fd);
    close(epoll);
    return NULL;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *name, double *values, int n) {
    qsort(values, n, sizeof *values, compare);
    printf("%-9s %6d answers  p50 %.3f s  p90 %.3f s  p99 %.3f s  max %.3f s\n", name, n, values[n / 2],
           values[(long)n * 90 / 100], values[(long)n * 99 / 100], values[n - 1]);
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: sleepwave PORT CONNECTIONS SECONDS PATH [THREADS]\n");
        return 2;
    }
    int port = atoi(argv[1]), connections = atoi(argv[2]), threads = argc > 5 ? atoi(argv[5]) : 2;
    double seconds = atof(argv[3]);
    if (port <= 0 || connections <= 0 || seconds <= 0 || threads <= 0 || threads > connections) {
        fprintf(stderr, "sleepwave: bad arguments\n");
        return 2;
    }
    address.sin_family = AF_INET;
    address.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    request_length = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", argv[4], port);
    deadline = now() + seconds;
    struct client *clients = calloc(threads, sizeof *clients);
    for (int t = 0; t < threads; t++) {
        struct client *client = &clients[t];
        client->first = connections * t / threads;
        client->count = connections * (t + 1) / threads - client->first;
        client->connections = calloc(client->count, sizeof *client->connections);
        for (int k = 0; k < CYCLES; k++) client->latency[k] = malloc(sizeof(double) * client->count);
        pthread_create(&client->thread, NULL, run, client);
    }
    long errors = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(clients[t].thread, NULL);
        errors += clients[t].errors;
    }
    double *all = malloc(sizeof(double) * (size_t)connections * CYCLES);
    double *cycle = malloc(sizeof(double) * connections);
    int total = 0;
    for (int k = 0; k < CYCLES; k++) {
        int n = 0;
        for (int t = 0; t < threads; t++) {
            memcpy(cycle + n, clients[t].latency[k], sizeof(double) * clients[t].answered[k]);
            n += clients[t].answered[k];
        }
        if (n == 0) break;
        memcpy(all + total, cycle, sizeof(double) * n);
        total += n;
        if (n < connections / 2) continue; /* the run ended during this cycle */
        char name[16];
        snprintf(name, sizeof name, "cycle %d", k);
        report(name, cycle, n);
    }
    if (total > 0) report("all", all, total);
    printf("errors %ld\n", errors);
    return 0;
}
