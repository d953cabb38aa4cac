/* tests/fuzz/paxos_codec_fuzz.c: libFuzzer target for paxos/paxos_codec.c.
 * The one rule: any input either fails to decode with RC_EPROTO, or decodes
 * to a value that encodes back to exactly the same bytes (the encoding is
 * canonical). Any other outcome, or a crash, is a bug. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/rc.h"
#include "paxos/paxos.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int rc, int n, const uint8_t *data, size_t size, const uint8_t *buf)
{
    if (rc != 0) {
        if (rc != RC_EPROTO)
            abort();
        return;
    }
    if (n < 0 || (size_t)n != size || memcmp(buf, data, size) != 0)
        abort(); /* decoded, but not canonical: the round trip broke */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static paxos_msg_t msg;
    static paxos_config_t cfg;
    static paxos_state_t st;
    static uint8_t buf[PAXOS_ENCODED_MAX];
    int rc;

    rc = paxos_msg_decode(data, size, &msg);
    check(rc, rc == 0 ? paxos_msg_encode(&msg, buf, sizeof(buf)) : 0, data, size, buf);
    rc = paxos_config_decode(data, size, &cfg);
    check(rc, rc == 0 ? paxos_config_encode(&cfg, buf, sizeof(buf)) : 0, data, size, buf);
    if (rc == 0 && paxos_config_check(&cfg) != 0)
        abort();
    rc = paxos_state_decode(data, size, &st);
    check(rc, rc == 0 ? paxos_state_encode(&st, buf, sizeof(buf)) : 0, data, size, buf);
    return 0;
}
