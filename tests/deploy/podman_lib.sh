# tests/deploy/podman_lib.sh: shared by the container tests (source it).
#
# Makes podman run containers on this kind of machine without touching the
# global configuration, and builds the Debian base image with debootstrap
# (no registry is reachable). What the CI VM needs, found by trying:
#   - the process may not raise RLIMIT_NOFILE/NPROC past its own hard limits
#     (no CAP_SYS_RESOURCE): podman's default ulimits make the runtime fail
#     with "setrlimit RLIMIT_NOFILE: Operation not permitted", so
#     default_ulimits = [] (containers inherit ours);
#   - cgroups are v1 with a cgroup2 hierarchy that holds a controller
#     (hybrid): crun refuses it ("cgroups in hybrid mode not supported, drop
#     all controllers from cgroupv2"); runc runs there.
# Both go in a containers.conf of our own, named by CONTAINERS_CONF for
# every podman call of the test.
#
# Functions: pm_setup, pm_base_image, pm_build, pm_log, pm_fail, pm_wait.

RC_ROOT=${RC_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PM_BASE=${PM_BASE:-docker.io/library/debian:bookworm}   # the Containerfile's FROM
PM_MIRROR=${PM_MIRROR:-http://deb.debian.org/debian}
PM_T0=$SECONDS

pm_log() { echo "[$((SECONDS - PM_T0))s] $*"; }
pm_fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# Waits until "$@" succeeds, polling every 0.2 s, for at most $PM_TIMEOUT s
# (default 60); the description comes first.
pm_wait() { # what, command...
    local what=$1 deadline=$((SECONDS + ${PM_TIMEOUT:-60}))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || pm_fail "timed out waiting for: $what"
        sleep 0.2
    done
}

pm_setup() {
    local tool
    for tool in podman runc debootstrap redis-cli; do
        command -v "$tool" >/dev/null || pm_fail "$tool is missing: run scripts/setup.sh"
    done
    [ "$(id -u)" -eq 0 ] || pm_fail "the container tests run as root (rootful podman)"
    PM_DIR=$(mktemp -d /tmp/rc-deploy.XXXXXX)
    cat >"$PM_DIR/containers.conf" <<'CONF'
[containers]
default_ulimits = []

[engine]
runtime = "runc"
CONF
    export CONTAINERS_CONF=$PM_DIR/containers.conf
}

# Imports a minimal Debian bookworm (debootstrap --variant=minbase) as
# $PM_BASE unless that image exists already (RC_DEPLOY_FRESH=1: rebuild).
pm_base_image() {
    if [ "${RC_DEPLOY_FRESH:-0}" != 1 ] && podman image exists "$PM_BASE"; then
        pm_log "base image $PM_BASE present"
        return 0
    fi
    local root=$PM_DIR/rootfs
    pm_log "debootstrap --variant=minbase bookworm from $PM_MIRROR"
    # eatmydata: dpkg's fsyncs are useless for a throw-away tree (2x faster).
    if ! ${PM_EATMYDATA:-eatmydata} debootstrap --variant=minbase bookworm "$root" "$PM_MIRROR" \
        >"$PM_DIR/debootstrap.log" 2>&1; then
        tail -20 "$PM_DIR/debootstrap.log" >&2
        pm_fail "debootstrap failed"
    fi
    # The image's apt looks at the same mirror; no package lists or caches.
    echo "deb $PM_MIRROR bookworm main" >"$root/etc/apt/sources.list"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -c . | podman import --quiet - "$PM_BASE" >/dev/null ||
        pm_fail "podman import failed"
    rm -rf "$root"
    pm_log "imported $PM_BASE"
}

# Builds deploy/container/Containerfile from the checkout as image $1.
pm_build() { # tag
    pm_log "podman build -t $1"
    if ! podman build --format docker -f "$RC_ROOT/deploy/container/Containerfile" \
        -t "$1" "$RC_ROOT" >"$PM_DIR/build.log" 2>&1; then
        tail -40 "$PM_DIR/build.log" >&2
        pm_fail "podman build failed"
    fi
    pm_log "built $1"
}
