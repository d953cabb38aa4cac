# bench/ports.sh: sourced by the bench scripts (needs $PY, /usr/bin/python3).
# A random port in [20000, 55535] that is free, with port + 10000 free too (a
# cluster bus port), and not handed out before in this run: sets FREE_PORT
# (not echoed: the list of ports handed out must survive the call).
USED=" "
FREE_PORT=""
free_port() {
    local p
    while :; do
        p=$(( (RANDOM * 32768 + RANDOM) % 35536 + 20000 ))
        [[ $USED == *" $p "* || $USED == *" $((p + 10000)) "* ]] && continue
        if $PY - "$p" <<'EOF'
import socket, sys
p = int(sys.argv[1])
for port in (p, p + 10000):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        sys.exit(1)
    finally:
        s.close()
EOF
        then
            USED+="$p $((p + 10000)) "
            FREE_PORT=$p
            return
        fi
    done
}
