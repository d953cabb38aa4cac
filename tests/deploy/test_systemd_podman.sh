#!/usr/bin/env bash
# deploy/systemd/ringcached@.service for real (issue 15): a container with
# systemd as PID 1 (podman run --systemd=always) runs two instances,
# ringcached@7001 (founds) and ringcached@7002 (joins 127.0.0.1:7001), from
# the repo's unit, sysusers file and example config; checks they form a
# cluster, that `systemctl restart ringcached@7002` brings it back into the
# cluster, and that both stop cleanly (graceful leave, exit 0).
#
# The binary is the checkout's release build ($RINGCACHED, default
# build/release/node/ringcached; it needs the unit's sd_notify support).
# Usage: tests/deploy/test_systemd_podman.sh   (root; scripts/setup.sh first)
set -euo pipefail
source "$(dirname "$0")/podman_lib.sh"

pm_setup
SD=$RC_ROOT/deploy/systemd
BIN=${RINGCACHED:-$RC_ROOT/build/release/node/ringcached}
for f in "$SD/ringcached@.service" "$SD/ringcache.sysusers.conf" "$SD/7001.conf" "$BIN"; do
    [ -f "$f" ] || pm_fail "missing $f"
done
NAME=rc-sd-$$
IMAGE=localhost/ringcache-systemd:test-$$
started=()
cleanup() {
    local rc=$?
    if [ "$rc" -ne 0 ] && [ ${#started[@]} -gt 0 ]; then
        podman exec "$NAME" journalctl --no-pager -n 60 -u 'ringcached@*' 2>&1 || true
    fi
    for c in "${started[@]}"; do podman rm -f -t 2 "$c" >/dev/null 2>&1 || true; done
    podman rmi -f "$IMAGE" >/dev/null 2>&1 || true
    rm -rf "$PM_DIR"
    [ "$rc" -eq 0 ] && echo "systemd test: PASS (${SECONDS}s)" || echo "systemd test: FAIL"
}
trap cleanup EXIT

pm_base_image
ctx=$PM_DIR/ctx
mkdir -p "$ctx/etc"
cp "$BIN" "$ctx/ringcached"
cp "$SD/ringcached@.service" "$SD/ringcache.sysusers.conf" "$ctx/"
cp "$SD/7001.conf" "$ctx/etc/7001.conf"
# 7002: the same file, joining 7001.
{ cat "$SD/7001.conf"; echo "join 127.0.0.1:7001"; } >"$ctx/etc/7002.conf"
cat >"$ctx/Containerfile" <<CF
FROM $PM_BASE
RUN apt-get update -qq \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \\
      systemd systemd-sysv libuv1 libhiredis0.14 libssl3 libmurmurhash2 redis-tools >/dev/null \\
 && rm -rf /var/lib/apt/lists/*
COPY ringcached /usr/bin/ringcached
COPY ringcached@.service /etc/systemd/system/ringcached@.service
COPY ringcache.sysusers.conf /usr/lib/sysusers.d/ringcache.conf
COPY etc/ /etc/ringcache/
RUN systemd-sysusers && chmod 0640 /etc/ringcache/*.conf && chgrp ringcache /etc/ringcache/*.conf \\
 && systemctl enable ringcached@7001 ringcached@7002
CMD ["/sbin/init"]
CF
pm_log "podman build (systemd image)"
podman build --format docker -t "$IMAGE" "$ctx" >"$PM_DIR/build.log" 2>&1 ||
    { tail -30 "$PM_DIR/build.log" >&2; pm_fail "podman build failed"; }
pm_log "built"
podman run -d --name "$NAME" --systemd=always "$IMAGE" >/dev/null 2>>"$PM_DIR/podman-run.log"
started+=("$NAME")
sx() { podman exec "$NAME" "$@"; }
field() { sx redis-cli -p "$1" INFO cluster | tr -d '\r' | sed -n "s/^$2://p"; }
both_serve() {
    local e
    e=$(field 7001 cluster_epoch)
    for p in 7001 7002; do
        [ "$(field $p cluster_state)" = ok ] || return 1
        [ "$(field $p cluster_my_role)" = serving ] || return 1
        [ "$(field $p cluster_members)" = 2 ] || return 1
        [ "$(field $p cluster_epoch)" = "$e" ] || return 1
    done
}
PM_TIMEOUT=90 pm_wait "systemd up and both instances active" \
    sx systemctl is-active ringcached@7001 ringcached@7002
PM_TIMEOUT=60 pm_wait "the two instances form a cluster" both_serve
[ "$(sx systemctl show -p User --value ringcached@7002)" = ringcache ] || pm_fail "not run as ringcache"
pm_log "ringcached@7001 and @7002 active (Type=notify) and one cluster at epoch $(field 7001 cluster_epoch)"
[ "$(sx redis-cli -p 7001 SET k v)" = OK ] && [ "$(sx redis-cli -p 7002 GET k)" = v ] ||
    pm_fail "write through 7001, read through 7002"

pid_before=$(sx systemctl show -p MainPID --value ringcached@7002)
sx systemctl restart ringcached@7002 || pm_fail "systemctl restart ringcached@7002"
pid_after=$(sx systemctl show -p MainPID --value ringcached@7002)
[ "$pid_after" != "$pid_before" ] && [ "$pid_after" != 0 ] || pm_fail "7002 did not restart"
PM_TIMEOUT=60 pm_wait "7002 back in the cluster after its restart" both_serve
pm_log "restarted ringcached@7002 (pid $pid_before -> $pid_after): back in the cluster"

# One after the other: 7002 leaves (hands its slots to 7001), then 7001,
# the last member, stops at once. (Both at once: each waits for the other.)
sx systemctl stop ringcached@7002 || pm_fail "systemctl stop ringcached@7002"
[ "$(field 7001 cluster_members)" = 1 ] || pm_fail "7001 still sees 2 members after 7002 stopped"
sx systemctl stop ringcached@7001 || pm_fail "systemctl stop ringcached@7001"
for u in ringcached@7001 ringcached@7002; do
    r=$(sx systemctl show -p Result --value "$u")
    s=$(sx systemctl show -p ExecMainStatus --value "$u")
    [ "$r" = success ] && [ "$s" = 0 ] || pm_fail "$u stopped with result $r, status $s"
done
pm_log "both stopped cleanly (result success, exit 0)"
