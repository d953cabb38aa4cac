/* resp/resp_write.h: writing RESP framing: the "<type><number>\r\n" line
 * that starts every array, map, bulk and integer reply or request. The one
 * rule: the caller owns the memory; nothing here allocates. */
#ifndef RC_RESP_RESP_WRITE_H
#define RC_RESP_RESP_WRITE_H

#include <stddef.h>

/* Longest header: type byte, "-9223372036854775808", "\r\n". */
enum {
    RESP_HEADER_MAX = 1 + 20 + 2
};

/* Writes "<type><v>\r\n" at 'dst' (room for RESP_HEADER_MAX bytes), e.g.
 * ('*', 3) -> "*3\r\n", ('$', 5), (':', -1). Returns its length. */
size_t resp_write_header(char *dst, char type, long long v);

#endif /* RC_RESP_RESP_WRITE_H */
