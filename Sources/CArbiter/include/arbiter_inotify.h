/*
 * inotify, which Glibc's Swift overlay does not import: the master watches the application library
 * with it for `--reload`.
 */
#ifndef ARBITER_INOTIFY_H
#define ARBITER_INOTIFY_H

#include <stdint.h>
#include <sys/inotify.h>

/// A non-blocking, close-on-exec inotify descriptor, or -1.
static inline int arbiter_inotify_init(void) { return inotify_init1(IN_NONBLOCK | IN_CLOEXEC); }

/// Watches a directory for files written and closed, or moved in (a linker's two ways of
/// replacing its output). Returns the watch descriptor, or -1.
static inline int arbiter_inotify_watch_directory(int fd, const char *path) {
    return inotify_add_watch(fd, path, IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR);
}

/// Walks the events in `buffer` (as read from the descriptor): calls `each` with every event's
/// watch descriptor and file name (empty when the event is about the directory itself).
static inline void arbiter_inotify_each(const unsigned char *buffer, long length, void *context,
                                        void (*each)(void *context, int wd, const char *name)) {
    long offset = 0;
    while (offset + (long)sizeof(struct inotify_event) <= length) {
        const struct inotify_event *event = (const struct inotify_event *)(buffer + offset);
        each(context, event->wd, event->len > 0 ? event->name : "");
        offset += (long)sizeof(struct inotify_event) + event->len;
    }
}

#endif
