/* common/rc.h: errors, asserts, logging and allocation shared by every module.
 * The one rule: nothing here depends on libuv, sockets or another module. */
#ifndef RC_COMMON_RC_H
#define RC_COMMON_RC_H

#include <stddef.h>
#include <stdint.h>

/* Project error codes. Functions return 0 or a negative code: -errno, a
 * libuv UV_E* code (also -errno on Unix), or one of these. */
enum rc_err_e {
    RC_ENOTOWNER = -5001, /* this node does not own the slot */
    RC_ESTALE = -5002,    /* message or table from an older epoch */
    RC_ENOQUORUM = -5003, /* no majority reachable */
    RC_EPROTO = -5004,    /* malformed input from a peer or client */
    RC_ETOOBIG = -5005,   /* input over a configured limit */
    RC_EBADCONF = -5006,  /* bad configuration option or value */
    RC_EAUTH = -5007,     /* authentication failed */
};

/* Returns a static description of 'err' (any code above, or -errno). */
const char *rc_strerror(int err);

/* Logging. rc_log() does not evaluate its arguments when 'level' is below
 * the configured level. */
typedef enum rc_log_level_e {
    RC_LOG_DEBUG = 0,
    RC_LOG_VERBOSE = 1,
    RC_LOG_NOTICE = 2,
    RC_LOG_WARNING = 3,
} rc_log_level_t;

extern int rc_log_level;

#define rc_log(level, ...)                      \
    do {                                        \
        if ((int)(level) >= rc_log_level)       \
            rc_log_write((level), __VA_ARGS__); \
    } while (0)

void rc_log_write(rc_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sends log lines to 'path' (appending), or to stderr when 'path' is NULL or
 * empty. Returns 0 or -errno. */
int rc_log_open(const char *path);
/* The file descriptor log lines go to (stderr's when no file is open), for
 * a crash report written from a signal handler. */
int rc_log_fd(void);
/* Parses "debug", "verbose", "notice", "warning" (Redis's names). Returns the
 * level, or -1 for an unknown name. */
int rc_log_level_parse(const char *name);

/* Asserts. RC_ASSERT stays on in release builds; RC_DEBUG_ASSERT compiles
 * in only with -DRC_DEBUG_ASSERTIONS. Never assert on peer input. */
_Noreturn void rc_panic(const char *file, int line, const char *expr);

#define RC_ASSERT(expr)                          \
    do {                                         \
        if (!(expr))                             \
            rc_panic(__FILE__, __LINE__, #expr); \
    } while (0)

#ifdef RC_DEBUG_ASSERTIONS
#define RC_DEBUG_ASSERT(expr) RC_ASSERT(expr)
#else
#define RC_DEBUG_ASSERT(expr) ((void)0)
#endif

#define RC_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Allocation for node/ and paxos/: the rc_x* functions abort on OOM, as
 * Redis's zmalloc does, and keep a count of the bytes they hold (the
 * allocator's usable size), reported as used_memory. Memory from them must
 * be released with rc_free(). */
void *rc_xmalloc(size_t size);
void *rc_xcalloc(size_t nmemb, size_t size);
void *rc_xrealloc(void *ptr, size_t size);
char *rc_xstrdup(const char *s);
void *rc_xmemdup(const void *p, size_t len);
void rc_free(void *ptr);
/* Bytes currently held through the rc_x* functions. */
size_t rc_used_memory(void);
/* Bytes the allocator really uses for a request of 'size' bytes. */
size_t rc_alloc_size(const void *ptr);
/* Asks for transparent huge pages over the block [p, p + size) if it is
 * at least 4 MB (rc_x* do it for theirs): a hint, without effect where THP
 * is off. */
void rc_advise_huge(void *p, size_t size);

/* Milliseconds of CLOCK_MONOTONIC: never steps, unlike the wall clock. The
 * one clock of leases, takeovers and hand-off timers, whichever module
 * reads it (their times are compared across modules). */
int64_t rc_mono_ms(void);
/* A bound that rc_mono_ms() read now could not exceed, from the coarse
 * clock (a few ns rather than tens): for checks run on every request that
 * must never err late, such as "does the lease still hold". */
int64_t rc_mono_ms_upper(void);

#endif /* RC_COMMON_RC_H */
