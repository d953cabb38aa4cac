#!/bin/sh
# ringcache-entrypoint: starts /usr/bin/ringcached in the container.
#
#   [ARGS...]            flags for ringcached (--join node1:6379 ...), after
#                        /etc/ringcache/ringcached.conf when that file exists
#   RINGCACHE_JOIN       host:port of a member to join (a DNS name is fine:
#                        the node resolves it and retries until it is up)
#   RINGCACHE_PASSWORD   requirepass (the health check sends it with AUTH);
#                        values here must not contain spaces
#   RINGCACHE_CLUSTER_SECRET  cluster-secret shared by every node
#   RINGCACHE_PORT       client port (bus: port + 10000), default 6379
#   RINGCACHE_ANNOUNCE_IP  the address peers and clients reach this node at;
#                        by default the container's own (hostname -i)
#
# A first argument that starts with '/' or is not a flag replaces the
# command ('sh', or '/usr/bin/ringcached --probe ...').
set -eu
conf=/etc/ringcache/ringcached.conf
case "${1:-}" in
    --probe | --version | -v | --help | -h) exec /usr/bin/ringcached "$@" ;;
    "" | --*) ;;
    *) exec "$@" ;;
esac
[ -r "$conf" ] || conf=""
announce=${RINGCACHE_ANNOUNCE_IP:-}
if [ -z "$announce" ]; then
    # Not set in the file or the flags: the container's address.
    if ! { [ -n "$conf" ] && grep -Eq '^[[:space:]]*cluster-announce-ip[[:space:]]' "$conf"; } &&
        ! printf '%s\n' "$@" | grep -qx -- '--cluster-announce-ip'; then
        for a in $(hostname -i 2>/dev/null || true); do
            case "$a" in
                127.* | ::1 | *:*) ;;
                *) announce=$a; break ;;
            esac
        done
    fi
fi
# Built in this order so the flags the user gave come last and win.
extra=""
[ -z "${RINGCACHE_PORT:-}" ] || extra="$extra --port $RINGCACHE_PORT"
[ -z "$announce" ] || extra="$extra --cluster-announce-ip $announce"
[ -z "${RINGCACHE_JOIN:-}" ] || extra="$extra --join $RINGCACHE_JOIN"
[ -z "${RINGCACHE_PASSWORD:-}" ] || extra="$extra --requirepass $RINGCACHE_PASSWORD"
[ -z "${RINGCACHE_CLUSTER_SECRET:-}" ] || extra="$extra --cluster-secret $RINGCACHE_CLUSTER_SECRET"
# shellcheck disable=SC2086 # $extra is split on purpose (no spaces in values)
exec /usr/bin/ringcached ${conf:+"$conf"} $extra "$@"
