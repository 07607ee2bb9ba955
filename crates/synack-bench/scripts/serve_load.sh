#!/usr/bin/env bash
# synack serve --http under load, beside nginx, in a network namespace of its own.
#
#   cargo build --release
#   sudo crates/synack-bench/scripts/serve_load.sh            # the table (about 4 minutes)
#   sudo crates/synack-bench/scripts/serve_load.sh --quick    # 3 s per row
#   sudo crates/synack-bench/scripts/serve_load.sh --million  # 1,000,000 connections, memory over time
#
# Both servers serve the same directory in the same namespace: synack behind its TUN device at
# 10.200.0.2:80, nginx (2 workers, access log off) on the kernel's side at 10.200.0.1:8080.
# The load comes from the kernel's TCP in the namespace: wrk (rows), ab (--million), hping3
# (the SYN flood row). Nothing leaves the namespace, which is deleted on every exit path.
# Environment: SYNACK (binary, default target/release/synack), SECS (seconds per row, default
# 10), THREADS (wrk threads, default 2), SERVE_ARGS (extra `synack serve` flags).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../../.."
BIN=${SYNACK:-target/release/synack}
SECS=${SECS:-10}
THREADS=${THREADS:-2}
MODE=table
case "${1:-}" in
--quick) SECS=3 ;;
--million) MODE=million ;;
"") ;;
*)
    sed -n '2,15p' "$0"
    exit 2
    ;;
esac

[[ $(id -u) -eq 0 ]] || { echo "needs root (network namespace, TUN device)" >&2; exit 1; }
[[ -x $BIN ]] || { echo "$BIN: not built (cargo build --release)" >&2; exit 1; }
for t in ip wrk; do
    command -v $t >/dev/null || { echo "needs $t (apt-get install iproute2 wrk)" >&2; exit 1; }
done
have() { command -v "$1" >/dev/null; }

ns=synack-load-$$
work=$(mktemp -d /tmp/synack-load.XXXXXX)
serve_pid=
flood=
cleanup() {
    [[ -n $flood ]] && kill -9 "$flood" 2>/dev/null
    [[ -n $serve_pid ]] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
    [[ -f $work/nginx.pid ]] && kill "$(cat "$work/nginx.pid")" 2>/dev/null
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
ulimit -n "$(ulimit -Hn)" # c5000 needs about 5,000 descriptors in wrk

in_ns() { ip netns exec "$ns" "$@"; }
ip netns add "$ns"
in_ns ip link set lo up
# The client's side of the namespace: a wide ephemeral range and TIME-WAIT reuse, so that
# c5000 and a million connections do not run out of ports; a deep accept backlog for nginx.
in_ns sysctl -q -w net.ipv4.ip_local_port_range="1024 65535" net.ipv4.tcp_tw_reuse=1 \
    net.core.somaxconn=8192 net.ipv4.tcp_max_syn_backlog=8192

chmod 755 "$work" # nginx's workers run as www-data
mkdir -p "$work/www"
head -c 612 /dev/zero | tr '\0' 'x' >"$work/www/small.html"
head -c 1048576 /dev/urandom >"$work/www/1m.bin"

# shellcheck disable=SC2086
"$BIN" serve --netns "$ns" --port 80 --no-ipv6 --http "$work/www" --quiet --no-control \
    ${SERVE_ARGS:-} 2>"$work/serve.log" &
serve_pid=$!
for _ in $(seq 100); do
    grep -q "listening on" "$work/serve.log" 2>/dev/null && break
    sleep 0.1
done
grep -q "listening on" "$work/serve.log" || { cat "$work/serve.log"; exit 1; }

nginx_up=false
if have nginx; then
    cat >"$work/nginx.conf" <<EOF
worker_processes 2;
worker_rlimit_nofile 16384;
pid $work/nginx.pid;
error_log $work/nginx.err;
events { worker_connections 16384; }
http {
    access_log off;
    sendfile on;
    keepalive_requests 1000000;
    client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp;
    uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
    server { listen 10.200.0.1:8080 backlog=8192; root $work/www; }
}
EOF
    mkdir -p "$work/tmp"
    in_ns nginx -c "$work/nginx.conf" && nginx_up=true
else
    echo "(nginx not installed: synack's column only)"
fi

SYNACK_URL=http://10.200.0.2:80
NGINX_URL=http://10.200.0.1:8080

# wrk: requests per second and p99 latency of one run.
run_wrk() { # url path conns close(0/1)
    local hdr=()
    [[ $4 == 1 ]] && hdr=(-H "Connection: close")
    local t=$THREADS
    ((t > $3)) && t=$3
    in_ns wrk -t"$t" -c"$3" -d"${SECS}s" --latency --timeout 10s "${hdr[@]}" "$1$2" 2>&1 |
        awk '/Requests\/sec/ {r=$2} /^ +99%/ {p=$2} /Socket errors/ {e=$0}
             /Non-2xx/ {n=$NF} END {printf "%s %s %s\n", r, p, (e n == "" ? "-" : "errors")}'
}

tx_drops() { in_ns ip -s link show synack0 | awk '/TX:/ {getline; print $4}'; }

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$serve_pid/status" 2>/dev/null || echo 0; }

if [[ $MODE == million ]]; then
    have ab || { echo "--million needs ab (apt-get install apache2-utils)" >&2; exit 1; }
    echo "1,000,000 connections (ab -c 100, Connection: close) through one synack serve:"
    in_ns ab -q -n 1000000 -c 100 -r "$SYNACK_URL/small.html" >"$work/ab.out" 2>&1 &
    ab=$!
    start=$(date +%s)
    while kill -0 "$ab" 2>/dev/null; do
        sleep 10
        printf "  %4ss  rss %7s kB  threads %s\n" $(($(date +%s) - start)) "$(rss_kb)" \
            "$(awk '/Threads/ {print $2}' "/proc/$serve_pid/status")"
    done
    grep -E "Complete requests|Failed requests|Requests per second" "$work/ab.out"
    kill -0 "$serve_pid" || { echo "synack serve died"; cat "$work/serve.log"; exit 1; }
    echo "  synack serve still running; rss $(rss_kb) kB"
    sleep 15
    echo "  15 s idle later (memory given back after 10 s without traffic): rss $(rss_kb) kB"
    exit 0
fi

printf "%-34s %12s %10s %12s %10s %7s\n" "row" "synack r/s" "p99" "nginx r/s" "p99" "ratio"
row() { # label path conns close
    local s n
    s=$(run_wrk "$SYNACK_URL" "$2" "$3" "$4")
    if $nginx_up; then n=$(run_wrk "$NGINX_URL" "$2" "$3" "$4"); else n="- - -"; fi
    read -r sr sp se <<<"$s"
    read -r nr np ne <<<"$n"
    local ratio=-
    [[ $nr != - && $nr != "" && $sr != "" ]] && ratio=$(awk -v a="$sr" -v b="$nr" 'BEGIN {printf "%.2f", a / b}')
    printf "%-34s %12s %10s %12s %10s %7s" "$1" "$sr" "$sp" "$nr" "$np" "$ratio"
    [[ $se != - || $ne != - ]] && printf "   (socket errors: synack %s, nginx %s)" "$se" "$ne"
    echo
}

row "small, Connection: close, c100" /small.html 100 1
row "small, Connection: close, c1000" /small.html 1000 1
row "small, Connection: close, c5000" /small.html 5000 1
row "small, keep-alive, c100" /small.html 100 0
row "small, keep-alive, c1000" /small.html 1000 0
d0=$(tx_drops)
row "1 MB, keep-alive, c100" /1m.bin 100 0
echo "    device queue drops toward synack during the c100 1 MB row: $(($(tx_drops) - d0))"
row "1 MB, keep-alive, c1000" /1m.bin 1000 0

if have hping3; then
    base=$(run_wrk "$SYNACK_URL" /small.html 50 1 | cut -d' ' -f1)
    # `ip netns exec` becomes hping3 itself (exec), so $! is hping3's pid.
    ip netns exec "$ns" hping3 -q -S -p 80 --flood --rand-source 10.200.0.2 >/dev/null 2>&1 &
    flood=$!
    sleep 1
    during=$(run_wrk "$SYNACK_URL" /small.html 50 1 | cut -d' ' -f1)
    kill -9 "$flood" 2>/dev/null
    wait "$flood" 2>/dev/null || true
    flood=
    printf "SYN flood (hping3 --flood --rand-source) during wrk c50, Connection: close:\n"
    printf "    synack %s r/s without, %s r/s during: %s\n" "$base" "$during" \
        "$(awk -v a="$during" -v b="$base" 'BEGIN {printf "%.2f", a / b}')"
else
    echo "(hping3 not installed: no SYN flood row)"
fi
echo "synack serve rss after the rows: $(rss_kb) kB"
