/* tests/fuzz/resp_request_fuzz.c: libFuzzer target for the client request
 * parser (resp/resp_request.c). The one rule it checks beyond "no crash, no
 * leak": the commands parsed do not depend on how the bytes were split.
 * It also holds resp_request_peek() to its word: a request it reports is
 * the one the parser delivers from the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/rc.h"
#include "resp/resp_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct digest_s {
    uint64_t hash;
    uint64_t commands;
} digest_t;

static int on_cmd(void *ud, int argc, resp_arg_t *argv)
{
    digest_t *d = ud;
    int i;
    size_t j;

    if (argc < 1)
        abort();
    d->hash = d->hash * 31 + (uint64_t)argc;
    for (i = 0; i < argc; i++) {
        if (argv[i].ptr[argv[i].len] != '\0')
            abort();
        d->hash = d->hash * 31 + argv[i].len;
        for (j = 0; j < argv[i].len; j++)
            d->hash = d->hash * 131 + (unsigned char)argv[i].ptr[j];
    }
    d->commands++;
    return 0;
}

/* Parses 'data' in chunks of 'chunk' bytes; returns the final status. */
static ssize_t run(const uint8_t *data, size_t size, size_t chunk, int auth, digest_t *d)
{
    /* Small limits so the fuzzer reaches them. */
    resp_request_t *p = resp_request_create(1024 * 1024, 2 * 1024 * 1024);
    ssize_t rc = 0;
    size_t off;

    resp_request_set_authenticated(p, auth);
    memset(d, 0, sizeof(*d));
    for (off = 0; off < size && rc >= 0; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;

        rc = resp_request_feed(p, (const char *)data + off, n, on_cmd, d);
        if (rc >= 0 && (size_t)rc != n)
            abort(); /* the callback never stops, so all bytes are consumed */
    }
    resp_request_destroy(p);
    return rc < 0 ? rc : 0;
}

typedef struct first_s {
    int n;
    int argc;
    resp_arg_t argv[4];
    char copy[4][64];
} first_t;

static int on_first(void *ud, int argc, resp_arg_t *argv)
{
    first_t *f = ud;

    if (f->n++ == 0) {
        f->argc = argc;
        for (int i = 0; i < argc && i < 4; i++) {
            size_t n = argv[i].len < sizeof(f->copy[i]) ? argv[i].len : sizeof(f->copy[i]);

            memcpy(f->copy[i], argv[i].ptr, n);
            f->argv[i].len = argv[i].len;
        }
    }
    return 0;
}

/* What resp_request_peek() reports at the start of 'data' is what the
 * parser delivers from those bytes, when it accepts them. */
static void check_peek(const uint8_t *data, size_t size)
{
    resp_arg_t argv[4];
    int argc = 0;
    size_t used = resp_request_peek((const char *)data, size, 1024, &argc, argv, 4);
    resp_request_t *p;
    first_t f;
    ssize_t rc;

    if (used == 0)
        return;
    if (used > size || argc < 1 || argc > 1024)
        abort();
    for (int i = 0; i < argc && i < 4; i++) {
        if (argv[i].ptr < (const char *)data ||
            argv[i].ptr + argv[i].len > (const char *)data + used)
            abort();
    }
    memset(&f, 0, sizeof(f));
    p = resp_request_create(1024 * 1024, 2 * 1024 * 1024);
    resp_request_set_authenticated(p, 1);
    rc = resp_request_feed(p, (const char *)data, used, on_first, &f);
    resp_request_destroy(p);
    if (rc < 0)
        return; /* refused (a limit): allowed */
    if ((size_t)rc != used || f.n != 1 || f.argc != argc)
        abort();
    for (int i = 0; i < argc && i < 4; i++) {
        size_t n = argv[i].len < sizeof(f.copy[i]) ? argv[i].len : sizeof(f.copy[i]);

        if (f.argv[i].len != argv[i].len || memcmp(f.copy[i], argv[i].ptr, n) != 0)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    digest_t whole, pieces;
    ssize_t a, b;
    size_t chunk;
    int auth;

    if (size < 1)
        return 0;
    chunk = (size_t)(data[0] & 0x3f) + 1;
    auth = (data[0] & 0x40) != 0;
    data++;
    size--;
    check_peek(data, size);
    a = run(data, size, size > 0 ? size : 1, auth, &whole);
    b = run(data, size, chunk, auth, &pieces);
    if (a != b || whole.commands != pieces.commands || whole.hash != pieces.hash)
        abort();
    return 0;
}
