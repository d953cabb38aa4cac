/* common/rc_buf.h: a growable byte buffer (replies built piece by piece,
 * partial input, text such as INFO). The one rule: after any append,
 * printf or commit, 'data' is NUL-terminated at 'len' (the NUL is not
 * counted), so text built here can be used as a C string.
 *
 *   data                      len           cap
 *   |<-------- bytes -------->|\0| reserved |
 *
 * Allocation is through rc_x* (aborts on OOM); free with rc_buf_free(). */
#ifndef RC_COMMON_RC_BUF_H
#define RC_COMMON_RC_BUF_H

#include <stdarg.h>
#include <stddef.h>

/* A zeroed rc_buf_t ('rc_buf_t b = {0};') is an empty buffer. */
typedef struct rc_buf_s {
    char *data; /* NULL until the first byte is reserved */
    size_t len; /* bytes in use */
    size_t cap; /* bytes allocated (always > len once allocated) */
} rc_buf_t;

/* Smallest allocation the buffer makes. */
enum {
    RC_BUF_MIN = 64
};

/* Makes 'b' an empty buffer holding no memory. */
void rc_buf_init(rc_buf_t *b);
/* Frees the memory 'b' holds and makes it empty; 'b' can be used again. */
void rc_buf_free(rc_buf_t *b);
/* Empties 'b' and keeps its capacity for the next use. */
void rc_buf_reset(rc_buf_t *b);
/* Empties 'b'; frees its memory when it holds more than 'keep' bytes, so a
 * buffer that once grew for a large request does not stay large. */
void rc_buf_reset_trim(rc_buf_t *b, size_t keep);

/* Makes room for 'n' more bytes (at least doubling the capacity, to
 * RC_BUF_MIN at first, or to exactly what is needed when that is more) and
 * returns where they go; 'len' is unchanged. Write at most
 * 'n' bytes there, then rc_buf_commit() the number written. The pointer is
 * valid until the next call that grows 'b'. */
char *rc_buf_reserve(rc_buf_t *b, size_t n);
/* Adds 'n' bytes written after rc_buf_reserve() ('n' <= what was reserved). */
void rc_buf_commit(rc_buf_t *b, size_t n);

/* Appends the 'n' bytes at 'p' ('p' may be NULL when 'n' is 0). */
void rc_buf_append(rc_buf_t *b, const void *p, size_t n);
/* Appends the C string 's' without its NUL. */
void rc_buf_append_str(rc_buf_t *b, const char *s);
/* Appends one byte. */
void rc_buf_putc(rc_buf_t *b, char ch);
/* Appends printf-style output. */
void rc_buf_printf(rc_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rc_buf_vprintf(rc_buf_t *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Drops the first 'n' bytes ('n' <= len), moving the rest to the front. */
void rc_buf_consume(rc_buf_t *b, size_t n);

/* Returns the bytes (NUL-terminated; "" for an empty buffer) and stores
 * their count in '*len' when 'len' is not NULL. The caller takes ownership
 * and frees them with rc_free(); 'b' is left empty, holding no memory. */
char *rc_buf_detach(rc_buf_t *b, size_t *len);

#endif /* RC_COMMON_RC_BUF_H */
