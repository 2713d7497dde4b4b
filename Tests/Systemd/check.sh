#!/bin/bash
# Checks config/arbiter.service and config/arbiter.socket under a real systemd: boots a minimal
# Debian root with `systemd-nspawn -b` (systemd as PID 1 in a container) and runs inside.sh there:
# start, reload, stop with a request in flight, a USR2 upgrade, socket activation (TCP and a unix
# socket that outlives the service) and a clean journal.
#
#   swift build && sudo Tests/Systemd/check.sh
#
# Needs root, `systemd-nspawn` and `debootstrap` (Debian: apt-get install systemd-container
# debootstrap). The first run makes the Debian root with debootstrap (a few minutes, from
# $DEBIAN_MIRROR); later runs reuse it. Environment:
#   ARBITER_SYSTEMD_ROOT  where the Debian root lives (default /var/tmp/arbiter-systemd-check/root)
#   ARBITER_BIN_DIR       the built products (default: .build/debug of this checkout)
#   DEBIAN_MIRROR, DEBIAN_SUITE  for debootstrap (default http://deb.debian.org/debian, bookworm)
# Exit code 0 when every check passed; the checks, the container's console and its journal are
# left in $ARBITER_SYSTEMD_ROOT/arbiter-check/.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
root=${ARBITER_SYSTEMD_ROOT:-/var/tmp/arbiter-systemd-check/root}
bin=${ARBITER_BIN_DIR:-$repo/.build/debug}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=${DEBIAN_SUITE:-bookworm}

fail() { echo "systemd check: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || fail "run as root (systemd-nspawn and debootstrap need it)"
command -v systemd-nspawn > /dev/null || fail "systemd-nspawn is missing: apt-get install systemd-container"
[ -x "$bin/arbiter" ] && [ -f "$bin/libhello.so" ] || fail "no arbiter build in $bin: run swift build first"

if [ ! -x "$root/lib/systemd/systemd" ]; then
    command -v debootstrap > /dev/null || fail "debootstrap is missing: apt-get install debootstrap"
    echo "systemd check: making a Debian $suite root in $root (once)"
    mkdir -p "$root"
    debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,curl,procps "$suite" "$root" "$mirror"
fi

# The Swift runtime the binary links to, mounted read-only at the same path inside.
swift_lib=$(dirname "$(ldd "$bin/arbiter" | awk '/libswiftCore\.so/ { print $3 }')")
[ -f "$swift_lib/libswiftCore.so" ] || fail "cannot find the Swift runtime arbiter links to"

# The units exactly as shipped, the binary, the example application and a configuration.
install -D -m 755 "$bin/arbiter" "$root/usr/local/bin/arbiter"
install -D -m 644 "$bin/libhello.so" "$root/srv/app/libhello.so"
install -D -m 644 "$repo/config/arbiter.service" "$root/etc/systemd/system/arbiter.service"
install -D -m 644 "$repo/config/arbiter.socket" "$root/etc/systemd/system/arbiter.socket"
rm -rf "$root/etc/systemd/system/arbiter.socket.d" "$root/etc/systemd/system/sockets.target.wants/arbiter.socket"
install -d "$root/etc/arbiter"
cat > "$root/etc/arbiter/arbiter.conf" << 'CONF'
app = hello:application
bind = 127.0.0.1:8000
workers = 2
worker_class = sync
threads = 4
graceful_timeout = 10
control_socket = /run/arbiter/control.sock
CONF
chroot "$root" sh -c 'id arbiter > /dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin arbiter'

# The checks run as a unit of their own once the container has booted.
install -D -m 755 "$here/inside.sh" "$root/usr/local/sbin/arbiter-check"
cat > "$root/etc/systemd/system/arbiter-check.service" << 'UNIT'
[Unit]
Description=Check the arbiter units
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/arbiter-check
UNIT
install -d "$root/etc/systemd/system/multi-user.target.wants"
ln -sf ../arbiter-check.service "$root/etc/systemd/system/multi-user.target.wants/arbiter-check.service"
rm -rf "$root/arbiter-check"
install -d "$root/arbiter-check"

echo "systemd check: booting the container"
# --keep-unit: no scope of its own (needs no system bus on the host); --private-network: port
# 8000 is the container's loopback, not the host's.
timeout 600 systemd-nspawn -q -b --register=no --keep-unit --private-network \
    --bind-ro="$swift_lib" -D "$root" > "$root/arbiter-check/console.log" 2>&1 || true

[ -f "$root/arbiter-check/log" ] || fail "the checks did not run; see $root/arbiter-check/console.log"
cat "$root/arbiter-check/log"
grep -q '^result: 0 failure' "$root/arbiter-check/log" || {
    echo "systemd check: failed; details in $root/arbiter-check/ (detail, journal.txt, console.log)" >&2
    exit 1
}
