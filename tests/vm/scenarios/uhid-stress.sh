#!/usr/bin/env bash
# uhid under load: two clients on separate channels send maximum-size
# messages back to back (CTAPHID_PING and authenticatorLargeBlobs writes,
# see uhid_stress.py) through the hidraw node while two busy loops load the
# CPU. No report may be lost in either direction: zero errors.
#
# STRESS_MESSAGES (default 500) is the number of messages per client.
. "$VM_REPO/tests/vm/guest-lib.sh"

PY=$VM_REPO/.venv/bin/python
SCRIPT=$VM_REPO/tests/vm/scenarios/uhid_stress.py
[ -x "$PY" ] || fail "$PY missing: run tests/vm/prepare.sh on the host"
export PYTHONDONTWRITEBYTECODE=1
N=${STRESS_MESSAGES:-500}

# No built-in UV and no PIN: largeBlobs writes need no pinUvAuthParam
# (CTAP 2.1 §6.10.2). Info level: one log line per request, none per report.
start_fidosim --uv none
dmesg -C 2>/dev/null || true
# The uhid reader asks for SCHED_FIFO 1 (root may have it).
for t in /proc/"$FIDOSIM_PID"/task/*; do
    if [ "$(cat "$t/comm")" = uhid-reader ]; then
        read -ra st < "$t/stat"
        echo "    uhid-reader thread ${t##*/}: scheduling policy ${st[40]} (1 = SCHED_FIFO), priority ${st[39]}"
    fi
done

step "load the CPU: two busy loops"
load=()
for _ in 1 2; do
    ( while :; do :; done ) &
    load+=($!)
done

step "two clients, $N maximum-size messages each, back to back"
rc_a=0 rc_b=0
"$PY" "$SCRIPT" "$FIDO_DEV" "$N" A > /tmp/stress-A.json 2> /tmp/stress-A.err &
a=$!
"$PY" "$SCRIPT" "$FIDO_DEV" "$N" B > /tmp/stress-B.json 2> /tmp/stress-B.err &
b=$!
wait "$a" || rc_a=$?
wait "$b" || rc_b=$?
kill "${load[@]}" 2>/dev/null || true
wait "${load[@]}" 2>/dev/null || true

for c in A B; do
    echo "    client $c: $(cat /tmp/stress-$c.json)"
    [ -s /tmp/stress-$c.err ] && sed 's/^/    stderr: /' /tmp/stress-$c.err
done
echo "    kernel: $(dmesg 2>/dev/null | grep -c 'Output queue is full') x 'Output queue is full'"
dmesg 2>/dev/null | awk '/Output queue is full/ && n++ < 3 { print "    " $0 }'
echo "    fidosim: $(grep -c 'ctap request' "$FIDOSIM_LOG") requests logged, $(grep -c 'WARN' "$FIDOSIM_LOG") warnings"
awk '/WARN/ && n++ < 5 { print "    " $0 }' "$FIDOSIM_LOG"
[ "$rc_a" = 0 ] && [ "$rc_b" = 0 ] || fail "a client saw errors (exit $rc_a, $rc_b)"
dropped=$(dmesg 2>/dev/null | grep -c 'Output queue is full' || true)
[ "$dropped" = 0 ] || fail "the kernel dropped $dropped reports (Output queue is full)"
ok "$((2 * N)) maximum-size messages, no report lost"
stop_fidosim

step "uhid-stress scenario passed"
