/* common/rc.c: errors, asserts, logging and counted allocation.
 * The one rule: logging never allocates and never fails the caller. */
#define _DEFAULT_SOURCE /* madvise(), MADV_HUGEPAGE */
#include "common/rc.h"

#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int rc_log_level = RC_LOG_NOTICE;
static FILE *log_fp;
static size_t used_memory;

const char *rc_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case RC_ENOTOWNER:
        return "not the owner of this slot";
    case RC_ESTALE:
        return "stale epoch";
    case RC_ENOQUORUM:
        return "no quorum";
    case RC_EPROTO:
        return "protocol error";
    case RC_ETOOBIG:
        return "over the configured limit";
    case RC_EBADCONF:
        return "bad configuration";
    case RC_EAUTH:
        return "authentication failed";
    case -4095: /* libuv's UV_EOF, the one libuv code that is not -errno */
        return "connection closed by the peer";
    default:
        break;
    }
    if (err < 0 && err > -4096)
        return strerror(-err);
    return "unknown error";
}

int rc_log_fd(void)
{
    return log_fp != NULL ? fileno(log_fp) : STDERR_FILENO;
}

int rc_log_open(const char *path)
{
    FILE *fp;

    if (path == NULL || path[0] == '\0') {
        if (log_fp != NULL)
            fclose(log_fp);
        log_fp = NULL;
        return 0;
    }
    fp = fopen(path, "a");
    if (fp == NULL)
        return -errno;
    setvbuf(fp, NULL, _IOLBF, 0);
    if (log_fp != NULL)
        fclose(log_fp);
    log_fp = fp;
    return 0;
}

int rc_log_level_parse(const char *name)
{
    static const char *const names[] = {"debug", "verbose", "notice", "warning"};
    size_t i;

    for (i = 0; i < RC_ARRAY_SIZE(names); i++) {
        if (strcmp(name, names[i]) == 0)
            return (int)i;
    }
    return -1;
}

int64_t rc_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t rc_mono_ms_upper(void)
{
    /* The coarse clock is CLOCK_MONOTONIC as of the last tick: behind it by
     * less than its resolution. -1: not known yet; 0: no coarse clock. */
    static int64_t res_ns = -1;
    struct timespec ts;
    int64_t ns;

    if (res_ns < 0)
        res_ns = clock_getres(CLOCK_MONOTONIC_COARSE, &ts) == 0 && ts.tv_sec == 0 ? ts.tv_nsec : 0;
    if (res_ns == 0)
        return rc_mono_ms();
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + res_ns;
    return ns / 1000000;
}

void rc_log_write(rc_log_level_t level, const char *fmt, ...)
{
    static const char marks[] = ".-*#"; /* Redis's level marks */
    FILE *fp = log_fp != NULL ? log_fp : stderr;
    char when[64], msg[1024];
    struct timeval tv;
    struct tm tm;
    va_list ap;
    size_t off;

    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    off = strftime(when, sizeof(when), "%d %b %Y %H:%M:%S", &tm);
    snprintf(when + off, sizeof(when) - off, ".%03d", (int)(tv.tv_usec / 1000));
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(fp, "%d:M %s %c %s\n", (int)getpid(), when, marks[level & 3], msg);
    fflush(fp);
}

_Noreturn void rc_panic(const char *file, int line, const char *expr)
{
    fprintf(log_fp != NULL ? log_fp : stderr, "=== ASSERTION FAILED === %s:%d: %s\n", file, line,
            expr);
    fflush(NULL);
    abort();
}

static _Noreturn void oom(size_t size)
{
    fprintf(stderr, "Out of memory allocating %zu bytes\n", size);
    fflush(NULL);
    abort();
}

size_t rc_alloc_size(const void *ptr)
{
    return ptr == NULL ? 0 : malloc_usable_size((void *)ptr);
}

/* Large blocks (a big value, its copy in a request or a stream) come
 * fresh from mmap, and touching them one 4 KB page at a time cost 2.2 ms a
 * MB on this project's VMs (a 64 MB copy: 145 ms), long enough to stall the
 * event loop past a lease or the failure detector's patience. Transparent
 * huge pages, asked for, fill them 2 MB at a time: 12-95 ms for 64 MB. A hint
 * only: where THP is off or unsupported, madvise() fails and nothing
 * changes. */
enum {
    HUGE_ADVISE_MIN = 4 << 20
};

void rc_advise_huge(void *p, size_t size)
{
    uintptr_t page = 4096, start, end;

    if (size < HUGE_ADVISE_MIN)
        return;
    start = ((uintptr_t)p + page - 1) & ~(page - 1);
    end = ((uintptr_t)p + size) & ~(page - 1);
    (void)madvise((void *)start, end - start, MADV_HUGEPAGE);
}

void *rc_xmalloc(size_t size)
{
    void *p = malloc(size == 0 ? 1 : size);

    if (p == NULL)
        oom(size);
    used_memory += rc_alloc_size(p);
    rc_advise_huge(p, size);
    return p;
}

void *rc_xcalloc(size_t nmemb, size_t size)
{
    void *p;

    if (nmemb == 0 || size == 0)
        nmemb = size = 1;
    p = calloc(nmemb, size);
    if (p == NULL)
        oom(nmemb * size);
    used_memory += rc_alloc_size(p);
    rc_advise_huge(p, rc_alloc_size(p));
    return p;
}

void *rc_xrealloc(void *ptr, size_t size)
{
    size_t old = rc_alloc_size(ptr);
    void *p = realloc(ptr, size == 0 ? 1 : size);

    if (p == NULL)
        oom(size);
    used_memory = used_memory - old + rc_alloc_size(p);
    if (size > old)
        rc_advise_huge(p, size);
    return p;
}

char *rc_xstrdup(const char *s)
{
    return rc_xmemdup(s, strlen(s) + 1);
}

void *rc_xmemdup(const void *p, size_t len)
{
    void *q = rc_xmalloc(len);

    if (len > 0)
        memcpy(q, p, len);
    return q;
}

void rc_free(void *ptr)
{
    if (ptr == NULL)
        return;
    used_memory -= rc_alloc_size(ptr);
    free(ptr);
}

size_t rc_used_memory(void)
{
    return used_memory;
}
