/* node/bus/node_bus_proto.h: the cluster bus wire protocol: frame header, HELLO,
 * AUTH and PING/PONG payloads, a bounded frame reader and the authenticated
 * handshake. The one rule: pure code (no libuv, no sockets, no clock); every
 * byte from a peer is checked before it is trusted.
 *
 *   frame:   header (36 bytes) | payload (len bytes, <= NODE_BUS_MAX_PAYLOAD)
 *   header:  u32 magic 'RCB1' | u8 version | u8 type | u16 flags | u32 len
 *            | u64 sender id | u64 sender incarnation | u64 sender epoch
 *            (a HELLO's flags: the features its sender has,
 *            NODE_BUS_FEATURE_*; a peer without one ignores the bit)
 *   HELLO:   nonce[32] | u8 role | u8 resp | u64 placement | u16 n, bus_addr[n]
 *            | u16 n, client_addr[n]
 *   AUTH:    mac[32]
 *   DATA:    from the initiator, u64 id | u64 incarnation of the member it
 *            means to reach (or nothing: none named); from the acceptor,
 *            nothing
 *   PING/PONG: u64 seq | u64 sent_ms | u32 n | u64 suspect * n [| u8 1]
 *              (the optional last byte, in a PONG: the sender grants the
 *              lease round 'seq' of the PING it answers, member_lease.h)
 *   integers are little endian.
 *
 * Handshake (both sides at once):
 *
 *   initiator                      acceptor
 *     HELLO(nonce_i, role) --->   <--- HELLO(nonce_a, control)
 *     AUTH(mac 'I')        --->   <--- AUTH(mac 'A')
 *     verify 'A' -> OPEN               verify 'I' -> OPEN
 */
#ifndef RC_NODE_NODE_BUS_PROTO_H
#define RC_NODE_NODE_BUS_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/rc_buf.h"

enum node_bus_limit_e {
    NODE_BUS_MAGIC = 0x31424352u, /* bytes 'R','C','B','1' little-endian */
    NODE_BUS_VERSION = 3,         /* 3: data links carry BATCH frames */
    NODE_BUS_HEADER = 36,
    NODE_BUS_MAX_PAYLOAD = 32768,
    NODE_BUS_NONCE = 32,
    NODE_BUS_MAC = 32,
    NODE_BUS_ADDR_MAX = 64,
    NODE_BUS_MAX_SUSPECTS = 64,
    NODE_BUS_SECRET_MAX = 256, /* longer secrets are kept as their SHA-256 (same HMAC) */
    NODE_BUS_HELLO_MAX = NODE_BUS_NONCE + 2 + 8 + 2 * (2 + NODE_BUS_ADDR_MAX - 1),
    NODE_BUS_PING_MAX = 8 + 8 + 4 + 8 * NODE_BUS_MAX_SUSPECTS + 1,
    NODE_BUS_DATA_TO = 8 + 8, /* an initiator's DATA payload: the member addressed */
};

typedef enum node_bus_type_e {
    NODE_BUS_HELLO = 1,
    NODE_BUS_AUTH = 2,
    NODE_BUS_PAXOS = 3,
    NODE_BUS_PING = 4,
    NODE_BUS_PONG = 5,
    NODE_BUS_DATA = 6,
    /* After DATA, an initiator's requests travel in BATCH frames: a header
     * (the sender's epoch at the time of the write) followed by 'len' bytes
     * of RESP requests, streamed through without buffering the frame, so
     * 'len' is not bounded by NODE_BUS_MAX_PAYLOAD. Never in the framed
     * control stream (node_bus_header_decode() refuses it). */
    NODE_BUS_BATCH = 7,
} node_bus_type_t;

/* Header flags, by frame type. */
enum node_bus_flag_e {
    /* BATCH: the receiver refuses the requests when the batch's epoch is
     * older than its own (replication fences a removed primary with it). */
    NODE_BUS_F_FENCED = 1,
    /* HELLO: the features its sender has, what may be sent to it beyond
     * the version's base (a node older than a feature sends 0 for it, and
     * ignores the flags it gets). */
    NODE_BUS_FEATURE_LIVE = 1,     /* takes RCMIGRATE LIVE (node/migrate) */
    NODE_BUS_FEATURE_LIVEPACK = 2, /* takes RCMIGRATE LIVEPACK (node/migrate) */
    NODE_BUS_FEATURE_RESYNC = 4,   /* takes RCMIGRATE RESYNC (node/migrate) */
    NODE_BUS_FEATURE_DONEWAIT = 8, /* takes RCMIGRATE DONE with a takeover wait (node/migrate) */
    NODE_BUS_FEATURE_REPLAY = 16,  /* takes replayed writes ('C') in LIVEPACK (node/migrate) */
    NODE_BUS_FEATURES = NODE_BUS_FEATURE_LIVE | NODE_BUS_FEATURE_LIVEPACK |
                        NODE_BUS_FEATURE_RESYNC | NODE_BUS_FEATURE_DONEWAIT |
                        NODE_BUS_FEATURE_REPLAY,
};

typedef enum node_bus_role_e {
    NODE_BUS_ROLE_CONTROL = 0,
    NODE_BUS_ROLE_DATA = 1,
} node_bus_role_t;

/* ---- frame header ---- */

typedef struct node_bus_header_s {
    uint8_t type; /* node_bus_type_t */
    uint16_t flags;
    uint32_t len; /* payload bytes */
    uint64_t id;
    uint64_t incarnation;
    uint64_t epoch;
} node_bus_header_t;

/* Writes 'h' (magic and version added) into 'out'. */
void node_bus_header_encode(const node_bus_header_t *h, uint8_t out[NODE_BUS_HEADER]);
/* Decodes the header at 'buf'. Returns 0, or RC_EPROTO when 'len' is short
 * of a header, or the magic, version or type is wrong, or the payload
 * length is over NODE_BUS_MAX_PAYLOAD. Flags are not checked. */
int node_bus_header_decode(const uint8_t *buf, size_t len, node_bus_header_t *h);
/* Writes the header of a BATCH frame of 'len' payload bytes. */
void node_bus_batch_header(uint8_t out[NODE_BUS_HEADER], uint16_t flags, uint64_t id,
                           uint64_t incarnation, uint64_t epoch, uint32_t len);
/* Decodes a BATCH header at 'buf' (any payload length). Returns 0, or
 * RC_EPROTO when it is short, not this version or not a BATCH. */
int node_bus_batch_decode(const uint8_t *buf, size_t len, node_bus_header_t *h);
/* Writes header (flags 0) and 'len' bytes of 'payload' into 'out'. Returns
 * the total size, or 0 if 'cap' is too small or 'len' is too big. */
size_t node_bus_frame(uint8_t *out, size_t cap, uint8_t type, uint64_t id, uint64_t incarnation,
                      uint64_t epoch, const void *payload, size_t len);

/* ---- payloads ---- */

typedef struct node_bus_hello_s {
    uint8_t nonce[NODE_BUS_NONCE];
    uint8_t role;       /* node_bus_role_t */
    uint8_t resp;       /* 2 or 3 for a data link, 0 for control */
    uint64_t placement; /* ring_placement_id() of the sender: peers must agree */
    char bus_addr[NODE_BUS_ADDR_MAX];
    char client_addr[NODE_BUS_ADDR_MAX];
} node_bus_hello_t;

/* Encodes 'h' into 'buf' (NODE_BUS_HELLO_MAX bytes always suffice). Returns
 * the bytes written, RC_ETOOBIG if 'cap' is too small or an address is not
 * NUL-terminated within NODE_BUS_ADDR_MAX, RC_EPROTO for a bad role/resp
 * pair (control with resp 0, data with resp 2 or 3). */
int node_bus_hello_encode(const node_bus_hello_t *h, uint8_t *buf, size_t cap);
/* Decodes a HELLO payload. Returns 0 or RC_EPROTO (short, address length
 * >= NODE_BUS_ADDR_MAX or containing NUL, bad role/resp pair, trailing
 * bytes). The encoding is canonical: decode then encode gives the input. */
int node_bus_hello_decode(const uint8_t *buf, size_t len, node_bus_hello_t *h);

/* PING and PONG share one payload. */
typedef struct node_bus_ping_s {
    uint64_t seq;
    uint64_t sent_ms;
    uint32_t nsuspects;
    uint64_t suspects[NODE_BUS_MAX_SUSPECTS]; /* member ids the sender currently suspects */
    uint8_t lease; /* PONG: 1 = grants the PING's lease round (its seq) */
} node_bus_ping_t;

/* Returns the bytes written (at most NODE_BUS_PING_MAX), or RC_ETOOBIG if
 * 'cap' is too small or nsuspects > NODE_BUS_MAX_SUSPECTS. */
int node_bus_ping_encode(const node_bus_ping_t *p, uint8_t *buf, size_t cap);
/* Returns 0 or RC_EPROTO (short, too many suspects, trailing bytes, a lease
 * byte other than 1). The encoding is canonical (no lease byte for 0). */
int node_bus_ping_decode(const uint8_t *buf, size_t len, node_bus_ping_t *p);

/* An initiator's DATA payload: the member ('id', 'incarnation') the data
 * link is meant to reach, so that a node refuses what was sent to a
 * previous incarnation of itself. Writes NODE_BUS_DATA_TO bytes. */
void node_bus_data_to_encode(uint64_t id, uint64_t incarnation, uint8_t out[NODE_BUS_DATA_TO]);
/* Decodes a DATA payload of 'len' bytes: 0 and the member, or 0 and ids 0
 * for an empty one (no member named: the acceptor's, or an older peer's);
 * RC_EPROTO for any other length. */
int node_bus_data_to_decode(const uint8_t *buf, size_t len, uint64_t *id, uint64_t *incarnation);

/* AUTH payload: exactly NODE_BUS_MAC bytes.
 * HMAC-SHA256 with key 'secret' ('secret_len' 0 or NULL: the empty key) over
 * "ringcache-bus-v1" || side ('I' for the initiator's proof, 'A' for the
 * acceptor's) || nonce of the initiator || nonce of the acceptor. */
void node_bus_mac(const void *secret, size_t secret_len, int initiator_side,
                  const uint8_t nonce_initiator[NODE_BUS_NONCE],
                  const uint8_t nonce_acceptor[NODE_BUS_NONCE], uint8_t out[NODE_BUS_MAC]);

/* ---- frame reader ---- */

/* Bounded: never buffers more than one partial frame (at most NODE_BUS_HEADER
 * + NODE_BUS_MAX_PAYLOAD bytes). */
typedef struct node_bus_reader_s {
    rc_buf_t in; /* the frame being read */
    int err;     /* sticky RC_EPROTO after a bad header */
} node_bus_reader_t;

/* Called once per complete frame. 'payload' (h->len bytes) is valid only
 * during the call. Return nonzero to stop right after this frame. The
 * callback must not free the reader it is called from. */
typedef int (*node_bus_frame_cb)(void *arg, const node_bus_header_t *h, const uint8_t *payload);

void node_bus_reader_init(node_bus_reader_t *r);
void node_bus_reader_free(node_bus_reader_t *r);
/* Parses 'data'. Returns the bytes of 'data' consumed (== 'len' unless 'cb'
 * stopped), or RC_EPROTO at the first bad header (sticky afterwards).
 * Complete frames are handed to 'cb' straight from 'data' when possible; only
 * a partial frame is buffered. When 'cb' stops, the unconsumed bytes are
 * exactly data[ret..len). */
ssize_t node_bus_reader_feed(node_bus_reader_t *r, const uint8_t *data, size_t len,
                             node_bus_frame_cb cb, void *arg);
/* Bytes buffered of a partial frame (0 between frames). */
size_t node_bus_reader_pending(const node_bus_reader_t *r);

/* ---- handshake session ---- */

typedef void (*node_bus_emit_fn)(void *arg, const void *bytes, size_t len);

typedef enum node_bus_state_e {
    NODE_BUS_S_NEW = 0,    /* our HELLO not sent yet */
    NODE_BUS_S_HELLO = 1,  /* our HELLO sent, waiting for the peer's HELLO */
    NODE_BUS_S_AUTH = 2,   /* our AUTH sent, waiting for the peer's AUTH */
    NODE_BUS_S_OPEN = 3,   /* authenticated: frames go to the caller */
    NODE_BUS_S_FAILED = 4, /* sticky error, see error[] */
} node_bus_state_t;

typedef struct node_bus_session_s {
    int initiator;
    node_bus_state_t state;
    int err; /* RC_EPROTO or RC_EAUTH once FAILED */
    node_bus_hello_t mine;
    uint16_t features; /* ours, in our HELLO's flags: NODE_BUS_FEATURES */
    node_bus_hello_t peer;
    node_bus_header_t peer_header; /* header of the peer's HELLO */
    uint8_t secret[NODE_BUS_SECRET_MAX];
    size_t secret_len;
    uint64_t id, incarnation, epoch; /* for the headers of handshake frames */
    node_bus_reader_t reader;
    char error[128];
    /* valid during node_bus_session_feed() only */
    node_bus_emit_fn emit;
    void *emit_arg;
    node_bus_frame_cb cb;
    void *cb_arg;
} node_bus_session_t;

/* 'mine' is copied (its nonce already filled by the caller with random
 * bytes); 'secret' (NULL: none, same as "") is copied. 'id', 'incarnation'
 * and 'epoch' go in the headers of our HELLO and AUTH frames. */
void node_bus_session_init(node_bus_session_t *s, int initiator, const node_bus_hello_t *mine,
                           const char *secret, uint64_t id, uint64_t incarnation, uint64_t epoch);
/* Frees the reader's buffer and wipes the secret. */
void node_bus_session_free(node_bus_session_t *s);
/* Emits our HELLO frame (once; a second call does nothing). */
void node_bus_session_start(node_bus_session_t *s, node_bus_emit_fn emit, void *arg);
/* Feeds bytes from the peer. Before OPEN it consumes the peer's HELLO (then
 * emits our AUTH) and AUTH (then verifies it and opens); anything else (any
 * other frame, a second HELLO, an acceptor's data-role HELLO, our own nonce
 * echoed back, ...) fails the session: RC_EAUTH for a bad MAC, RC_EPROTO
 * otherwise, with node_bus_session_error() giving a one-line reason. Our
 * HELLO is emitted first if node_bus_session_start() was not called.
 * After OPEN every frame except HELLO and AUTH (RC_EPROTO) goes to 'cb';
 * a DATA frame or a nonzero return from 'cb' stops the feed right after
 * that frame. Returns the bytes of 'data' consumed (the rest, data[ret..len),
 * is for the caller, e.g. raw RESP after DATA), or the sticky error. */
ssize_t node_bus_session_feed(node_bus_session_t *s, const uint8_t *data, size_t len,
                              node_bus_emit_fn emit, void *emit_arg, node_bus_frame_cb cb,
                              void *cb_arg);
int node_bus_session_is_open(const node_bus_session_t *s);
/* The peer's HELLO; valid once it arrived (NULL before). */
const node_bus_hello_t *node_bus_session_peer(const node_bus_session_t *s);
/* The header of the peer's HELLO (its id, incarnation, epoch); NULL before. */
const node_bus_header_t *node_bus_session_peer_header(const node_bus_session_t *s);
/* One-line reason of the failure, "" while none. */
const char *node_bus_session_error(const node_bus_session_t *s);

#endif /* RC_NODE_NODE_BUS_PROTO_H */
