#!/bin/bash
# Runs inside the container that check.sh boots (as arbiter-check.service, after multi-user.target):
# drives config/arbiter.service and config/arbiter.socket through systemctl, writes one line per
# check to /arbiter-check/log and the journal to /arbiter-check/journal.txt, then powers off.
set -u
out=/arbiter-check/log
: > "$out"
failures=0

# check NAME COMMAND…: records whether COMMAND succeeded.
check() {
    local name=$1
    shift
    if "$@" >> /arbiter-check/detail 2>&1; then echo "ok   $name" >> "$out"; else echo "FAIL $name" >> "$out"; failures=$((failures + 1)); fi
}

# within SECONDS COMMAND…: polls COMMAND every 0.1 s until it succeeds, at most SECONDS.
within() {
    local tries=$(($1 * 10))
    shift
    for ((i = 0; i < tries; i++)); do
        "$@" > /dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

status_is() { systemctl show -p StatusText --value arbiter | grep -q "$1"; }
main_pid() { systemctl show -p MainPID --value arbiter; }
journal() { journalctl -b -u arbiter -o cat; }

# 1. A plain start binds what the configuration says; the socket unit stays off.
check "start" systemctl start arbiter
check "serves on the configured 127.0.0.1:8000" sh -c 'curl -sf http://127.0.0.1:8000/ | grep -q Hello'
check "the socket unit is not pulled in" sh -c '! systemctl is-active -q arbiter.socket'
check "bind is not ignored" sh -c '! journalctl -b -u arbiter -o cat | grep -q "bind is ignored"'
check "READY=1 with every worker serving" status_is "Serving: 2 worker(s), generation 0"
cat "/proc/$(main_pid)/limits" > /tmp/limits
check "arbiter ctl as the service user" runuser -u arbiter -- arbiter ctl -c /etc/arbiter/arbiter.conf status

# 2. Reload (HUP through ExecReload).
check "reload" systemctl reload arbiter
check "generation 1 serves after the reload" within 30 status_is "Serving: 2 worker(s), generation 1"
check "arbiter ctl reload answers with the generation" sh -c 'arbiter ctl -c /etc/arbiter/arbiter.conf reload | grep -q "generation 2"'

# 3. Stop with a request in flight: it completes.
curl -s -o /dev/null -w '%{http_code}' 'http://127.0.0.1:8000/sleep?seconds=2' > /tmp/in-flight.code &
curl_pid=$!
check "the request is in flight" within 10 sh -c 'arbiter ctl -c /etc/arbiter/arbiter.conf workers | grep -q "GET /sleep"'
check "stop" systemctl stop arbiter
wait "$curl_pid"
check "the in-flight request completed during the stop" grep -qx 200 /tmp/in-flight.code

# 4. USR2 upgrade: the new master becomes the main process and alone sets STATUS=.
systemctl start arbiter
old=$(main_pid)
kill -USR2 "$old"
check "the new master is MAINPID" within 30 sh -c "[ \"\$(systemctl show -p MainPID --value arbiter)\" != $old ]"
new=$(main_pid)
kill -WINCH "$old"
# The new master is the old one's child too: once the workers left, it is the only one.
check "the old master's workers leave" within 30 sh -c "[ \"\$(pgrep -P $old)\" = $new ]"
kill -QUIT "$old"
check "the old master exits" within 30 sh -c "! kill -0 $old"
check "the service stays active" systemctl is-active -q arbiter
check "STATUS= is the new master's" status_is "^Serving: 2 worker(s)"
check "it serves" sh -c 'curl -sf http://127.0.0.1:8000/ | grep -q Hello'
check "stop after the upgrade" systemctl stop arbiter

# 5. A clean journal.
# Dispatch starts its timer thread at nice -4, which LimitNICE=-4 allows. A container whose host
# withholds CAP_SYS_RESOURCE cannot raise that limit: then Dispatch may still log that one thread
# per worker, but no other (tasks at user-initiated priority would add more).
if grep -q "^Max nice priority *24 " /tmp/limits; then
    check "no Dispatch thread-priority lines" sh -c '! journalctl -b -o cat | grep -q "Failed to set thread priority"'
else
    echo "note LimitNICE=-4 could not be applied here (no CAP_SYS_RESOURCE): checking for Dispatch's timer thread only" >> "$out"
    check "Dispatch's timer thread is the only one refused a priority" sh -c '[ -z "$(journalctl -b -o short | grep "Failed to set thread priority" | sed "s/.*arbiter\[\([0-9]*\)\].*/\1/" | sort | uniq -d)" ]'
fi
check "each worker exit is logged once" sh -c '[ -z "$(journalctl -b -u arbiter -o cat | grep -E "^Worker (\(pid: [0-9]+, slot [0-9]+\) exited|retired)" | sort | uniq -d)" ]'
check "workers do not log their own exit" sh -c '! journalctl -b -u arbiter -o cat | grep -q "Worker exiting"'

# 6. Socket activation from scratch.
check "the socket unit starts" systemctl start arbiter.socket
check "the service waits for a connection" sh -c '! systemctl is-active -q arbiter'
check "a connection starts the service" sh -c 'curl -sf --max-time 30 http://127.0.0.1:8000/ | grep -q Hello'
check "it serves systemd's socket" sh -c 'journalctl -b -u arbiter -o cat | grep -q "from systemd"'
systemctl stop arbiter arbiter.socket

# 7. The unix-socket variant outlives the service's RuntimeDirectory.
mkdir -p /etc/systemd/system/arbiter.socket.d
printf '[Socket]\nListenStream=\nListenStream=/run/arbiter.sock\n' > /etc/systemd/system/arbiter.socket.d/unix.conf
systemctl daemon-reload
check "the unix socket unit starts" systemctl start arbiter.socket
check "a first connection is served" sh -c 'curl -sf --max-time 30 --unix-socket /run/arbiter.sock http://localhost/ | grep -q Hello'
check "the service stops" systemctl stop arbiter
check "the socket file outlives the service" test -S /run/arbiter.sock
check "a connection after the stop starts it again" sh -c 'curl -sf --max-time 30 --unix-socket /run/arbiter.sock http://localhost/ | grep -q Hello'
systemctl stop arbiter arbiter.socket
rm -r /etc/systemd/system/arbiter.socket.d

journalctl -b -o short-monotonic > /arbiter-check/journal.txt
echo "result: $failures failure(s)" >> "$out"
systemctl poweroff
