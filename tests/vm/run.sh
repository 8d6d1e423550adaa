#!/usr/bin/env bash
# Runs fidosim's real-device scenarios in a QEMU VM (this host has no uhid).
#
#   tests/vm/run.sh SCENARIO...      run tests/vm/scenarios/SCENARIO.sh, one VM each
#   tests/vm/run.sh all              run every scenario, print a summary, fail if any fails
#   tests/vm/run.sh --exec 'CMD'     run a shell command in the VM (debugging)
#   tests/vm/run.sh --list           list the scenarios
#
# Environment:
#   VM_TIMEOUT=SECS   bound for one VM, boot to power-off (default 300)
#   VM_NO_PREPARE=1   do not run prepare.sh first (it is quick when warm)
#   VM_NO_BUILD=1     do not run `cargo build -p fidosim` first
#   VM_SMP, VM_MEM    guest CPUs (default 1: exec is 4x slower with 2 under TCG) and memory (default 2G)
#   VM_APPEND='...'   extra kernel command line (e.g. vm.msize=N vm.rootcache=MODE)
#   VM_KERNEL=bzimage boot the compressed kernel instead of the PVH vmlinux
#
# Each VM gets a fresh directory tests/vm/cache/runs/NAME-TIMESTAMP/ shared
# read-write at /run/vm in the guest: job.sh (what to run), timeout,
# console.log (the serial console) and rc (the job's exit status, written
# by the guest's init; no rc file means the VM died: a failure).
set -uo pipefail

VM_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$VM_DIR/../.." && pwd)
CACHE=$VM_DIR/cache
SCEN_DIR=$VM_DIR/scenarios
VM_TIMEOUT=${VM_TIMEOUT:-300}

say() { printf '[run] %s\n' "$*" >&2; }

scenarios() { for f in "$SCEN_DIR"/*.sh; do [ -e "$f" ] && basename "$f" .sh; done; }

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

# ------------------------------------------------------------------ args
[ $# -gt 0 ] || { usage >&2; exit 2; }
exec_cmd=
case $1 in
    -h|--help) usage; exit 0 ;;
    --list) scenarios; exit 0 ;;
    --exec) [ $# -eq 2 ] || { usage >&2; exit 2; }; exec_cmd=$2; set -- exec ;;
    all) [ $# -eq 1 ] || { usage >&2; exit 2; }; mapfile -t _all < <(scenarios); set -- "${_all[@]}" ;;
esac
if [ -z "$exec_cmd" ]; then
    for s in "$@"; do
        [ -f "$SCEN_DIR/$s.sh" ] || { say "no scenario $s (have: $(scenarios | tr '\n' ' '))"; exit 2; }
    done
fi

# ------------------------------------------------------- prepare + build
if [ "${VM_NO_PREPARE:-0}" != 1 ]; then
    "$VM_DIR/prepare.sh" || { say "prepare.sh failed"; exit 1; }
fi
[ -s "$CACHE/boot.env" ] || { say "run tests/vm/prepare.sh first"; exit 1; }
# shellcheck source=/dev/null
. "$CACHE/boot.env"
if [ "${VM_NO_BUILD:-0}" != 1 ]; then
    say "cargo build -p fidosim"
    (cd "$REPO" && timeout -k 10 1800 cargo build -q -p fidosim) || { say "cargo build failed"; exit 1; }
fi
[ -x "$REPO/target/debug/fidosim" ] || { say "$REPO/target/debug/fidosim missing"; exit 1; }

# ------------------------------------------------------------- one VM
# boot_vm RUNDIR KERNEL: boots, streams the console, returns qemu's status.
boot_vm() {
    local rundir=$1 kernel=$2 rc=0
    local -a qemu=(
        qemu-system-x86_64
        -accel tcg,thread=multi -cpu max -m "${VM_MEM:-2G}" -smp "${VM_SMP:-1}"
        -no-reboot -nodefaults -display none -monitor none
        -chardev stdio,id=con,signal=off -serial chardev:con
        -kernel "$kernel" -initrd "$INITRD"
        -append "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init mitigations=off random.trust_cpu=on ${VM_APPEND:-}"
        -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap
        -virtfs "local,path=$rundir,mount_tag=results,security_model=none,multidevs=remap"
        -virtfs "local,path=$REPO,mount_tag=repo,security_model=none,readonly=on,multidevs=remap"
        -device virtio-rng-pci
    )
    # stdin from /dev/null: nothing to type, and the terminal is never put in
    # raw mode. timeout(1) runs qemu in its own process group, so Ctrl-C
    # reaches it only through the trap below (QEMU_PIDFILE).
    QEMU_PIDFILE=$rundir/qemu.pid
    (
        timeout -k 5 "$VM_TIMEOUT" "${qemu[@]}" </dev/null &
        echo $! > "$QEMU_PIDFILE"
        wait $! || echo $? > "$rundir/qemu.status"
    ) 2>&1 | sed -u 's/\r$//' | tee "$rundir/console.log"
    rm -f "$QEMU_PIDFILE"
    QEMU_PIDFILE=
    if [ -s "$rundir/qemu.status" ]; then rc=$(cat "$rundir/qemu.status"); rm -f "$rundir/qemu.status"; fi
    return "$rc"
}
QEMU_PIDFILE=
on_signal() {
    if [ -n "$QEMU_PIDFILE" ] && [ -s "$QEMU_PIDFILE" ]; then kill -TERM "$(cat "$QEMU_PIDFILE")" 2>/dev/null; fi
    say "interrupted"
    exit 130
}
trap on_signal INT TERM

# run_one NAME JOBCMD: prints and returns the job's exit status.
run_one() {
    local name=$1 jobcmd=$2 rundir qrc kernel rc
    rundir=$CACHE/runs/$name-$(date +%Y%m%d-%H%M%S)-$$
    mkdir -p "$rundir"
    # VM_REPO: the repo as the guest sees it (the same path: the guest's
    # root is the host's root). The guest's init bounds the job a bit
    # below VM_TIMEOUT so it can still report.
    cat > "$rundir/job.sh" <<JOB
export VM_REPO='$REPO' VM_SCENARIO='$name' VM_RESULTS=/run/vm
export HOME=/tmp/home LANG=C.UTF-8 TERM=dumb
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mkdir -p "\$HOME"
cd /tmp
$jobcmd
JOB
    echo $((VM_TIMEOUT > 40 ? VM_TIMEOUT - 20 : VM_TIMEOUT)) > "$rundir/timeout"
    echo "$REPO" > "$rundir/repo"

    kernel=$VMLINUZ
    if [ -n "${VMLINUX:-}" ] && [ ! -e "$CACHE/pvh-failed" ] && [ "${VM_KERNEL:-}" != bzimage ]; then kernel=$VMLINUX; fi
    boot_vm "$rundir" "$kernel"; qrc=$?
    if [ ! -e "$rundir/rc" ] && [ "$kernel" != "$VMLINUZ" ] && ! grep -q '\[vm-init\]' "$rundir/console.log"; then
        say "PVH boot of $kernel failed (qemu status $qrc); using the bzImage from now on"
        touch "$CACHE/pvh-failed"
        kernel=$VMLINUZ
        boot_vm "$rundir" "$kernel"; qrc=$?
    fi
    if [ -s "$rundir/rc" ]; then
        rc=$(cat "$rundir/rc")
    else
        if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
            say "$name: VM timed out after ${VM_TIMEOUT}s without reporting"
        else
            say "$name: VM exited ($qrc) without reporting a status"
        fi
        rc=125
    fi
    say "$name: exit $rc (log: ${rundir#"$REPO"/}/console.log)"
    return "$rc"
}

if [ -n "$exec_cmd" ]; then
    run_one exec "exec /bin/bash -c $(printf '%q' "$exec_cmd")"
    exit $?
fi

declare -a summary=()
failed=0
total_start=$(date +%s.%N)
for s in "$@"; do
    say "=== scenario $s"
    start=$(date +%s.%N)
    run_one "$s" "exec /bin/bash \"\$VM_REPO/tests/vm/scenarios/$s.sh\""; rc=$?
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    if [ "$rc" = 0 ]; then summary+=("PASS  $s  ${secs}s"); else summary+=("FAIL  $s  ${secs}s  (exit $rc)"); failed=$((failed + 1)); fi
done
total=$(awk -v a="$total_start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
# keep the 30 newest run directories
ls -1dt "$CACHE"/runs/*/ 2>/dev/null | tail -n +31 | while IFS= read -r d; do rm -rf -- "$d"; done
echo
echo "== VM scenarios (total ${total}s)"
printf '  %s\n' "${summary[@]}"
echo "$(( $# - failed )) passed, $failed failed"
[ "$failed" = 0 ]
