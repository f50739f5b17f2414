// <sys/epoll.h> and <sys/eventfd.h> for the HTTP server's event loop, and <malloc.h>'s arena limit
// for the server's process: Glibc's Swift overlay does not export them. Inline wrappers give
// Swift plain functions where the C API has macros.
#ifndef CEPOLL_H
#define CEPOLL_H

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <malloc.h>

// accept4(2) is declared only under _GNU_SOURCE, which the Glibc module is not built with.
extern int accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags);

static inline int cepoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }
static inline int cepoll_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }
static inline int cepoll_accept(int listener) { return accept4(listener, 0, 0, SOCK_NONBLOCK | SOCK_CLOEXEC); }

// At most `count` malloc arenas from now on (glibc's M_ARENA_MAX); 1 when it was taken.
static inline int cepoll_limit_malloc_arenas(int count) { return mallopt(M_ARENA_MAX, count); }

#endif
