/* common/rc_str.h: small string functions shared by every module: strict
 * integers, glob matching, case-insensitive words, argument splitting and
 * the two loopback rules. The one rule: each behaves exactly as the Redis
 * function it names, because clients compare our replies with Redis's. */
#ifndef RC_COMMON_RC_STR_H
#define RC_COMMON_RC_STR_H

#include <stddef.h>

/* Parses the 'len' bytes at 's' as Redis's string2ll(): an optional '-',
 * then "0" or a digit 1-9 followed by digits; no '+', no spaces, no leading
 * zeros, no "-0", at most 20 bytes, within long long. Stores the value in
 * '*out' and returns 0, or returns -EINVAL ('*out' untouched). */
int rc_string2ll(const char *s, size_t len, long long *out);

/* Writes 'v' in decimal at 'dst' (room for RC_LL2STR_MAX bytes; no NUL is
 * written) and returns the length, as Redis's ll2string() without the NUL.
 * LLONG_MIN included. */
enum {
    RC_LL2STR_MAX = 20
};
size_t rc_ll2str(char *dst, long long v);

/* Glob match with Redis's stringmatchlen() semantics: '*' any run, '?' one
 * byte, "[abc]" "[^abc]" "[a-z]" (ends swapped when reversed; bytes compare
 * as signed char, as Redis on x86), '\x' the byte x (also inside classes);
 * an unterminated class ends with the pattern. 'nocase' folds ASCII
 * letters (not an escaped byte inside a class, as Redis). An empty string
 * matches only the empty pattern: Redis's KEYS and SCAN special-case a lone
 * "*" themselves. O(plen * slen), no recursion. Returns 1 on a match. */
int rc_strmatch(const char *pat, size_t plen, const char *str, size_t slen, int nocase);

/* Returns 1 when the 'len' bytes at 's' are the C string 'word', ignoring
 * ASCII case (an embedded NUL never matches): how command options such as
 * "EX" or "withscores" are recognised. */
int rc_strcaseeq(const char *s, size_t len, const char *word);

/* Splits 'line' ('len' bytes) like Redis's sdssplitargs(): blanks separate
 * arguments, "double quotes" take \n \r \t \b \a \\ \" and \xHH escapes,
 * 'single quotes' take \'. A closing quote must be followed by a blank or
 * the end. Calls 'arg(ud, ptr, len)' per argument ('ptr' valid during the
 * call only). Returns the number of arguments, or -1 for unbalanced quotes
 * (arguments before the bad one have been passed). */
int rc_split_args(const char *line, size_t len, void (*arg)(void *ud, const char *ptr, size_t len),
                  void *ud);

/* The two loopback rules. They differ on purpose; keep them apart:
 *
 * rc_is_loopback_ip(): Redis 7's connIsLocal() for protected mode: the
 *   peer's numeric address, formatted as inet_ntop() does, is exactly
 *   "127.0.0.1" or "::1". Not the rest of 127/8, not "::ffff:127.0.0.1".
 *   A sockaddr caller formats the address (uv_ip4_name / uv_ip6_name) and
 *   passes the text; non-IP peers (unix sockets) are local and never get
 *   here.
 *
 * rc_is_loopback_host(): whether a configured bind address or host name
 *   stays on this machine: any "127." prefix, "::1" or "localhost". Used to
 *   decide whether listeners are reachable from outside. A bind spec's
 *   optional leading '-' (Redis's "optional address") is stripped by the
 *   caller. */
int rc_is_loopback_ip(const char *ip);
int rc_is_loopback_host(const char *host);

#endif /* RC_COMMON_RC_STR_H */
