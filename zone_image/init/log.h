/* Diagnostics for the zone init: one line per message on stderr, which is /dev/console (hvc0)
 * in a zone, prefixed "edera-init: " so the runtime can tell them from kernel messages. */
#ifndef EDERA_LOG_H
#define EDERA_LOG_H

#include <stddef.h>
#include <stdint.h>

/* Size of the error-message buffers passed around as `char err[ERR_MAX]`. */
#define ERR_MAX 512

void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Format an error message into err (always NUL-terminated); returns -1 for `return errf(...)`. */
int errf(char err[ERR_MAX], const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Monotonic clock in milliseconds. */
uint64_t now_ms(void);
/* Allocation that cannot fail: PID 1 has no sane way to continue without memory. */
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

#endif
