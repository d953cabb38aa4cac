/* resp/resp_write.c: the RESP header writer of resp_write.h. The one rule:
 * the number is written as Redis writes it (ll2string), so replies are
 * byte-identical to Redis's. */
#include "resp/resp_write.h"

#include "common/rc_str.h"

size_t resp_write_header(char *dst, char type, long long v)
{
    size_t n = 0;

    dst[n++] = type;
    n += rc_ll2str(dst + n, v);
    dst[n++] = '\r';
    dst[n++] = '\n';
    return n;
}
