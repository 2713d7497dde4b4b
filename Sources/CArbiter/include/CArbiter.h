/*
 * System interfaces Glibc's Swift overlay does not import: epoll, eventfd, accept4, pipe2, prctl, the
 * wait-status macros, an async-signal-safe self-pipe handler and a process-title writer.
 */
#ifndef C_ARBITER_H
#define C_ARBITER_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>

static inline int arbiter_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }
static inline int arbiter_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev;
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &ev);
}
/// Waits for events; fills parallel arrays so Swift need not touch the packed struct.
int arbiter_epoll_wait(int epfd, uint32_t *events, uint64_t *data, int max, int timeout_ms);

static inline int arbiter_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }
int arbiter_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
static inline int arbiter_accept_flags(void) { return SOCK_NONBLOCK | SOCK_CLOEXEC; }
int arbiter_pipe2(int fds[2], int flags);

enum {
    ARBITER_EPOLLIN = EPOLLIN, ARBITER_EPOLLOUT = EPOLLOUT, ARBITER_EPOLLERR = EPOLLERR,
    ARBITER_EPOLLHUP = EPOLLHUP, ARBITER_EPOLLRDHUP = EPOLLRDHUP, ARBITER_EPOLLET = EPOLLET,
    ARBITER_EPOLLONESHOT = EPOLLONESHOT, ARBITER_EPOLLEXCLUSIVE = EPOLLEXCLUSIVE,
    ARBITER_EPOLL_CTL_ADD = EPOLL_CTL_ADD, ARBITER_EPOLL_CTL_MOD = EPOLL_CTL_MOD,
    ARBITER_EPOLL_CTL_DEL = EPOLL_CTL_DEL
};

static inline int arbiter_wifexited(int status) { return WIFEXITED(status); }
static inline int arbiter_wexitstatus(int status) { return WEXITSTATUS(status); }
static inline int arbiter_wifsignaled(int status) { return WIFSIGNALED(status); }
static inline int arbiter_wtermsig(int status) { return WTERMSIG(status); }

/// Routes `signo` to a handler that writes the signal number as one byte to `fd` (saving errno).
/// `fd` must be non-blocking. Returns 0 or -1 with errno.
int arbiter_route_signal(int signo, int fd);
/// Restores the default disposition of `signo`.
int arbiter_default_signal(int signo);
/// Ignores `signo` (SIGPIPE).
int arbiter_ignore_signal(int signo);
/// Makes SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT and SIGTRAP sent by another process (`kill`) end
/// this process as their default action does, after the handler already installed (Swift's
/// runtime, which prints a backtrace) has run. That handler alone returns from a signal that was
/// not a fault, and the process would carry on. Faults and the process's own `abort()` go to that
/// handler unchanged; a signal inherited as ignored is left so. A PID namespace's init (which
/// the default action spares) exits with 128 + the signal's number instead. Call once, early,
/// from the main thread.
void arbiter_end_on_sent_fatal_signals(void);
/// Unblocks all signals in the calling thread (a spawned child inherits the mask).
void arbiter_unblock_all_signals(void);
/// Blocks the given signals in the calling thread, so threads it starts inherit the mask.
void arbiter_block_signals(const int *signals, int count);

/// Sets the process title shown by ps: overwrites the argv block (moving the environment out of the
/// way on first use) and the thread name (prctl, 15 characters).
void arbiter_set_process_title(int argc, char **argv, const char *title);

/// Asks the kernel to send `signo` to this process when its parent dies.
int arbiter_set_parent_death_signal(int signo);

/// posix_spawn of `path` with `argv`/`envp`, mapping `from[i]` onto descriptor `to[i]` in the child
/// (clearing close-on-exec), with the default signal mask and dispositions. Returns 0 or an errno.
int arbiter_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                  const int *from, const int *to, int count);

/// Atomic access to memory shared with another process (the heartbeat page).
static inline void arbiter_store_u64(void *p, uint64_t v) { __atomic_store_n((uint64_t *)p, v, __ATOMIC_RELEASE); }
static inline uint64_t arbiter_load_u64(const void *p) { return __atomic_load_n((const uint64_t *)p, __ATOMIC_ACQUIRE); }
static inline void arbiter_store_u32(void *p, uint32_t v) { __atomic_store_n((uint32_t *)p, v, __ATOMIC_RELEASE); }
static inline uint32_t arbiter_load_u32(const void *p) { return __atomic_load_n((const uint32_t *)p, __ATOMIC_ACQUIRE); }

/// An anonymous memory file (no path on disk), close-on-exec. Returns a descriptor or -1.
int arbiter_memfd(const char *name);

/// The time (seconds on the monotonic clock) the calling thread's event loop read at the start of
/// its turn; 0 on a thread that keeps none. `Clock.turn` reads it.
extern _Thread_local double arbiter_turn_time;
static inline double arbiter_get_turn_time(void) { return arbiter_turn_time; }
static inline void arbiter_set_turn_time(double seconds) { arbiter_turn_time = seconds; }

/// Memory for one exchange's C handle (at most ARBITER_HANDLE_SIZE bytes, malloc's alignment),
/// cached per thread: a request takes a handle and gives it back when its exchange ends, nearly
/// always on the same thread, so malloc and free run only while a thread's cache fills or empties.
/// A thread that exits frees what it cached.
void *arbiter_handle_alloc(void);
void arbiter_handle_free(void *handle);
enum { ARBITER_HANDLE_SIZE = 32 };

/// A 64 KiB read buffer private to the calling thread (reads land here before they are copied
/// into a connection's buffer, so no per-read allocation is needed).
unsigned char *arbiter_thread_scratch(void);
enum { ARBITER_SCRATCH_SIZE = 65536 };

/* The connection owner this thread is (a worker's loop, a request thread): calls made on another
   thread are posted to the owner. A thread-local, since pthread_self() is `const` in Glibc. */
void arbiter_set_thread_owner(const void *owner);
const void *arbiter_thread_owner(void);

#include "arbiter_inotify.h"
#include "arbiter_counters.h"

#endif
