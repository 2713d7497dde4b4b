#define _GNU_SOURCE
#include "CArbiter.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <pthread.h>

int arbiter_epoll_wait(int epfd, uint32_t *events, uint64_t *data, int max, int timeout_ms) {
    struct epoll_event evs[256];
    if (max > 256) max = 256;
    int n = epoll_wait(epfd, evs, max, timeout_ms);
    for (int i = 0; i < n; i++) {
        events[i] = evs[i].events;
        data[i] = evs[i].data.u64;
    }
    return n;
}

int arbiter_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
    return accept4(fd, addr, len, flags);
}

int arbiter_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }

/* One descriptor per signal number; handlers only write a byte (djb's self-pipe trick). */
static volatile int signal_fds[65];

static void arbiter_signal_handler(int signo) {
    int saved = errno;
    if (signo > 0 && signo < 65) {
        int fd = signal_fds[signo];
        if (fd >= 0) {
            unsigned char byte = (unsigned char)signo;
            ssize_t ignored = write(fd, &byte, 1);
            (void)ignored;
        }
    }
    errno = saved;
}

int arbiter_route_signal(int signo, int fd) {
    if (signo <= 0 || signo >= 65) { errno = EINVAL; return -1; }
    signal_fds[signo] = fd;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = arbiter_signal_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    return sigaction(signo, &sa, NULL);
}

int arbiter_default_signal(int signo) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    return sigaction(signo, &sa, NULL);
}

int arbiter_ignore_signal(int signo) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    return sigaction(signo, &sa, NULL);
}

/* The disposition each fatal signal had before arbiter_end_on_sent_fatal_signals (written once,
 * before the handlers are installed; read by them). */
static struct sigaction fatal_previous[NSIG];

static void fatal_signal(int signo, siginfo_t *info, void *context) {
    const struct sigaction *previous = &fatal_previous[signo];
    int sent = info != NULL && (info->si_code == SI_USER || info->si_code == SI_QUEUE || info->si_code == SI_TKILL)
        && info->si_pid != getpid();
    if (previous->sa_flags & SA_SIGINFO) {
        if (previous->sa_sigaction != NULL) previous->sa_sigaction(signo, info, context);
    } else if (previous->sa_handler != SIG_DFL && previous->sa_handler != NULL) {
        previous->sa_handler(signo);
    } else {
        sent = 1; /* no handler before: the default action */
    }
    if (sent) {
        /* The default action, delivered at once (the signal unblocked). A process that survives
         * it is a PID namespace's init, whose signals with the default action are dropped: exit
         * as a shell reports a death by that signal. */
        signal(signo, SIG_DFL);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, signo);
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
        raise(signo);
        _exit(128 + signo);
    }
}

void arbiter_end_on_sent_fatal_signals(void) {
    static const int signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP};
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) {
        int signo = signals[i];
        if (sigaction(signo, NULL, &fatal_previous[signo]) != 0) continue;
        /* Ignored (inherited so): left alone, since returning from a fault would repeat it forever. */
        if (!(fatal_previous[signo].sa_flags & SA_SIGINFO) && fatal_previous[signo].sa_handler == SIG_IGN) continue;
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_sigaction = fatal_signal;
        action.sa_mask = fatal_previous[signo].sa_mask;
        /* The runtime's flags (its alternate stack among them), with ours. */
        action.sa_flags = (fatal_previous[signo].sa_flags & ~SA_RESETHAND) | SA_SIGINFO;
        sigaction(signo, &action, NULL);
    }
}

void arbiter_unblock_all_signals(void) {
    sigset_t set;
    sigemptyset(&set);
    pthread_sigmask(SIG_SETMASK, &set, NULL);
}

void arbiter_block_signals(const int *signals, int count) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < count; i++) sigaddset(&set, signals[i]);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

extern char **environ;
static char *title_start = NULL;
static size_t title_capacity = 0;

void arbiter_set_process_title(int argc, char **argv, const char *title) {
    if (title_start == NULL && argc > 0 && argv != NULL && argv[0] != NULL) {
        /* The argv strings and then the environment strings are contiguous; claim both. */
        char *end = argv[0] + strlen(argv[0]) + 1;
        for (int i = 1; i < argc; i++) {
            if (argv[i] == end) end = argv[i] + strlen(argv[i]) + 1;
        }
        if (environ != NULL) {
            size_t count = 0;
            while (environ[count] != NULL) count++;
            char **copy = calloc(count + 1, sizeof(char *));
            if (copy != NULL) {
                for (size_t i = 0; i < count; i++) {
                    if (environ[i] == end) end = environ[i] + strlen(environ[i]) + 1;
                    copy[i] = strdup(environ[i]);
                }
                environ = copy;
            }
        }
        title_start = argv[0];
        title_capacity = (size_t)(end - argv[0]);
        for (int i = 1; i < argc; i++) argv[i] = title_start + title_capacity - 1; /* empty strings */
    }
    if (title_start != NULL && title_capacity > 1) {
        size_t n = strlen(title);
        if (n > title_capacity - 1) n = title_capacity - 1;
        memcpy(title_start, title, n);
        memset(title_start + n, 0, title_capacity - n);
    }
    prctl(PR_SET_NAME, (unsigned long)title, 0, 0, 0);
}

int arbiter_set_parent_death_signal(int signo) { return prctl(PR_SET_PDEATHSIG, (unsigned long)signo, 0, 0, 0); }

int arbiter_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                  const int *from, const int *to, int count) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) return rc;
    rc = posix_spawnattr_init(&attr);
    if (rc != 0) { posix_spawn_file_actions_destroy(&actions); return rc; }
    /* A target may be another mapping's source (or the same descriptor). So each source is first
       duplicated, in this process, to a fresh descriptor above every target (the lowest free one:
       no fixed range, which a low RLIMIT_NOFILE would not allow), and the child only dup2()s those.
       They are close-on-exec, so the child never keeps them; this process closes them after spawn. */
    int max_target = -1;
    for (int i = 0; i < count; i++) if (to[i] > max_target) max_target = to[i];
    int *parked = count > 0 ? malloc(sizeof(int) * (size_t)count) : NULL;
    if (count > 0 && parked == NULL) rc = ENOMEM;
    int made = 0;
    while (rc == 0 && made < count) {
        int fd = fcntl(from[made], F_DUPFD_CLOEXEC, max_target + 1);
        if (fd < 0) rc = errno; else parked[made++] = fd;
    }
    for (int i = 0; i < count && rc == 0; i++) {
        rc = posix_spawn_file_actions_adddup2(&actions, parked[i], to[i]);
    }
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    if (rc == 0) rc = posix_spawnattr_setsigmask(&attr, &none);
    if (rc == 0) rc = posix_spawnattr_setsigdefault(&attr, &all);
    if (rc == 0) rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (rc == 0) rc = posix_spawn(pid, path, &actions, &attr, argv, envp);
    for (int i = 0; i < made; i++) close(parked[i]);
    free(parked);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    return rc;
}


static _Thread_local const void *thread_owner = NULL;
void arbiter_set_thread_owner(const void *owner) { thread_owner = owner; }
const void *arbiter_thread_owner(void) { return thread_owner; }

int arbiter_memfd(const char *name) { return memfd_create(name, MFD_CLOEXEC); }

_Thread_local double arbiter_turn_time = 0;

enum { HANDLE_CACHE = 64 };
static _Thread_local void *handle_cache[HANDLE_CACHE];
static _Thread_local int handles_cached = 0;
static _Thread_local int handle_cache_registered = 0;
static pthread_key_t handle_cache_key;
static pthread_once_t handle_cache_once = PTHREAD_ONCE_INIT;

/* Runs at the exit of a thread that cached handles (its thread-locals are still there). */
static void handle_cache_drain(void *unused) {
    (void)unused;
    while (handles_cached > 0) free(handle_cache[--handles_cached]);
}

static void handle_cache_make_key(void) { pthread_key_create(&handle_cache_key, handle_cache_drain); }

void *arbiter_handle_alloc(void) {
    if (handles_cached > 0) return handle_cache[--handles_cached];
    return malloc(ARBITER_HANDLE_SIZE);
}

void arbiter_handle_free(void *handle) {
    if (handle == NULL) return;
    if (handles_cached == HANDLE_CACHE) {
        free(handle);
        return;
    }
    if (!handle_cache_registered) {
        pthread_once(&handle_cache_once, handle_cache_make_key);
        pthread_setspecific(handle_cache_key, handle_cache); /* non-NULL: the destructor runs */
        handle_cache_registered = 1;
    }
    handle_cache[handles_cached++] = handle;
}

static _Thread_local unsigned char *scratch = NULL;
unsigned char *arbiter_thread_scratch(void) {
    if (scratch == NULL) scratch = malloc(ARBITER_SCRATCH_SIZE);
    return scratch;
}
