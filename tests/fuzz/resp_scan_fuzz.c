/* tests/fuzz/resp_scan_fuzz.c: libFuzzer target for resp/resp_scan.c, the
 * RESP reply scanner. The rules it checks beyond "no crash": a scan never
 * claims more bytes than it was given, a complete reply scans the same
 * from any prefix (0 before its end, its length after), the resumable
 * scanner agrees with the one-shot one, and aggregate offsets stay inside;
 * resp_scan_bulks() takes exactly the inputs that resp_scan() reads as a
 * run of non-null bulks, with the same boundaries. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/rc.h"
#include "resp/resp_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
    MAX_BULKS = 64
};

/* The bulks resp_scan() finds back to back from the start (non-null '$'
 * replies, at most MAX_BULKS), their ends in 'end'; '*rest' says whether
 * bytes are left after them. */
static size_t scan_bulks(const char *buf, size_t size, size_t *end, int *rest)
{
    size_t k = 0, at = 0;

    while (k < MAX_BULKS && at < size && buf[at] == '$' && !(size - at > 1 && buf[at + 1] == '-')) {
        ssize_t r = resp_scan(buf + at, size - at);

        if (r <= 0)
            break;
        at += (size_t)r;
        end[k++] = at;
    }
    *rest = at < size;
    return k;
}

/* resp_scan_bulks() against resp_scan(): the same run of bulks, the same
 * boundaries; never past the input; one more or one fewer refused. */
static void check_bulks(const char *buf, size_t size)
{
    size_t end[MAX_BULKS], k, i, want;
    resp_arg_t out[MAX_BULKS + 1];
    char *copy = malloc(size + 1);
    int rest;

    if (copy == NULL)
        abort();
    k = scan_bulks(buf, size, end, &rest);
    for (want = k > 0 ? k - 1 : 0; want <= k + 1 && want <= MAX_BULKS; want++) {
        int r;

        memcpy(copy, buf, size);
        r = resp_scan_bulks(copy, size, out, want);
        if ((r == 0) != (want == k && !rest))
            abort();
        for (i = 0; r == 0 && i < want; i++) {
            size_t start = (size_t)(out[i].ptr - copy);

            if (start > size || out[i].len > size - start || start + out[i].len + 2 != end[i] ||
                memcmp(out[i].ptr, buf + start, out[i].len) != 0 || out[i].ptr[out[i].len] != 0)
                abort();
        }
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    resp_scanner_t sc;
    ssize_t r = resp_scan(buf, size), r2 = 0;
    size_t step, got, first, p;
    long long v;
    long count;

    if (r != 0 && r != RC_EPROTO && (r < 0 || (size_t)r > size))
        abort();
    /* Every prefix: never more than the prefix, never a different answer. */
    for (p = 0; p < size; p = p * 2 + 1) {
        ssize_t rp = resp_scan(buf, p);

        if (rp > 0 && (size_t)rp > p)
            abort();
        if (r > 0 && (size_t)p < (size_t)r && rp != 0)
            abort(); /* a prefix of a complete reply is just incomplete */
        if (r > 0 && (size_t)p >= (size_t)r && rp != r)
            abort();
        if (r == 0 && rp != 0)
            abort(); /* the whole only needs more: no prefix is malformed */
    }
    if (r > 0 && resp_scan(buf, (size_t)r) != r)
        abort();
    /* The resumable scanner, fed growing prefixes, agrees. */
    step = size > 0 ? (size_t)data[0] % 17 + 1 : 1;
    resp_scanner_init(&sc);
    for (got = 0;; got += step) {
        if (got > size)
            got = size;
        r2 = resp_scanner_scan(&sc, buf, got);
        if (r2 != 0 || got == size)
            break;
    }
    if (r2 != r)
        abort();
    count = resp_scan_aggregate(buf, size, &first);
    if (count != RC_EPROTO) {
        if (count < -1 || first > size)
            abort();
        if (r > 0 && count == -1 && first != (size_t)r)
            abort();
    }
    if (resp_scan_integer(buf, size, &v) == 0 && (size == 0 || buf[0] != ':'))
        abort();
    check_bulks(buf, size);
    return 0;
}
