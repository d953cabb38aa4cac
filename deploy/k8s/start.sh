#!/bin/sh
# start.sh: the command of every ringcache pod (mounted from the ConfigMap
# ringcache-config). It picks the member to join, then execs ringcached with
# its configuration on stdin, so the secrets never appear on a command line
# (the host's ps shows every container's command line).
#
# Bootstrap (deploy/README.md, "Kubernetes"):
#   1. a pod that finds a member that serves among the pods of the headless
#      service (ready or not: publishNotReadyAddresses) joins it;
#   2. otherwise pods 1.. join pod 0's DNS name (the node resolves it and
#      retries until pod 0 is up);
#   3. otherwise pod 0 founds the cluster, but only after peers that answer
#      without serving had RINGCACHE_BOOTSTRAP_WAIT seconds to serve: a pod 0
#      that comes back while the others live must join them, not found a
#      second cluster.
# Every start is a new member: the Paxos state of a previous run is removed
# (its data is gone anyway, and the member addresses it holds are pod IPs
# that change when pods are rescheduled).
set -eu

bin=${RINGCACHED:-/usr/bin/ringcached}
conf=${RINGCACHE_CONF:-/etc/ringcache/ringcached.conf}
secrets=${RINGCACHE_SECRETS:-/run/secrets/ringcache}
dir=${RINGCACHE_DIR:-/var/lib/ringcache}
port=${RINGCACHE_PORT:-6379}
svc=${RINGCACHE_SERVICE:-ringcache-headless}
domain=${RINGCACHE_CLUSTER_DOMAIN:-cluster.local}
wait_s=${RINGCACHE_BOOTSTRAP_WAIT:-60}
me=${POD_IP:?POD_IP must be set (downward API: status.podIP)}
ns=${POD_NAMESPACE:?POD_NAMESPACE must be set (downward API: metadata.namespace)}
pod=${POD_NAME:-$(hostname)}
set_name=${pod%-*}
ord=${pod##*-}

say() {
    echo "start.sh: $*" >&2
}

# A secret value: present, not the placeholder, and safe in a config line.
check_secret() { # name value
    case "$2" in
        "" | change-me)
            say "$1 is '$2': put a real value in the Secret ringcache-secret (deploy/README.md, Kubernetes)"
            exit 1
            ;;
        *[!A-Za-z0-9._-]*)
            say "$1 may hold only letters, digits and . _ -"
            exit 1
            ;;
    esac
}

peers() { # every pod address of the headless service but this one
    getent ahostsv4 "$svc" 2>/dev/null | awk '{ print $1 }' | sort -u | grep -vxF "$me" || true
}

find_serving() { # prints the address of a peer that serves
    for ip in $(peers); do
        if "$bin" --probe ready "$ip:$port" >/dev/null 2>&1; then
            echo "$ip"
            return 0
        fi
    done
    return 1
}

any_live() { # does any peer answer PING?
    for ip in $(peers); do
        "$bin" --probe live "$ip:$port" >/dev/null 2>&1 && return 0
    done
    return 1
}

[ -r "$secrets/cluster-secret" ] || {
    say "cannot read $secrets/cluster-secret: mount the Secret ringcache-secret there"
    exit 1
}
secret=$(cat "$secrets/cluster-secret")
check_secret cluster-secret "$secret"
pass=${RINGCACHE_PASSWORD:-}
check_secret requirepass "$pass"

rm -f "$dir"/ringcache-*.state "$dir"/ringcache-*.state.tmp

join=""
if seed=$(find_serving); then
    join="$seed:$port"
elif [ "$ord" != 0 ]; then
    join="$set_name-0.$svc.$ns.svc.$domain:$port"
else
    waited=0
    while [ "$waited" -lt "$wait_s" ] && any_live; do
        say "peers answer but none serves yet: waiting before founding (${waited}s of ${wait_s}s)"
        sleep 2
        waited=$((waited + 2))
        if seed=$(find_serving); then
            join="$seed:$port"
            break
        fi
    done
fi
if [ -n "$join" ]; then
    say "$pod ($me) joins through $join"
else
    say "$pod ($me) founds a new cluster: no other pod of $svc serves"
fi

# Later lines win: the ConfigMap's file, then what only this pod knows.
exec "$bin" - <<CONF
$(cat "$conf")
port $port
cluster-announce-ip $me
cluster-secret $secret
requirepass $pass
${join:+join $join}
CONF
