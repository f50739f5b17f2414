// <sys/epoll.h> and <sys/eventfd.h> for the HTTP server's event loop: Glibc's Swift overlay
// does not export them. Inline wrappers give Swift plain functions where the C API has macros.
#ifndef CEPOLL_H
#define CEPOLL_H

#include <sys/epoll.h>
#include <sys/eventfd.h>

static inline int cepoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }
static inline int cepoll_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

#endif
