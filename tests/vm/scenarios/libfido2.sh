#!/usr/bin/env bash
# libfido2's command-line tools (fido2-token, fido2-cred, fido2-assert)
# against fidosim as a real USB HID key (uhid -> hidraw), inside the VM.
. "$VM_REPO/tests/vm/guest-lib.sh"

work=$(mktemp -d /tmp/libfido2.XXXXXX)
cd "$work"
b64rand() { head -c "$1" /dev/urandom | base64 -w0; }

start_fidosim

step "fido2-token -L"
run_logged list.txt fido2-token -L
expect_grep "^$FIDO_DEV: vendor=0x1209, product=0x0001" list.txt "fido2-token -L lists $FIDO_DEV as 1209:0001"
expect_grep '^HID_ID=0003:00001209:00000001$' "/sys/class/hidraw/${FIDO_DEV#/dev/}/device/uevent" "the kernel sees bus 0003 (USB)"

step "fido2-token -I $FIDO_DEV"
run_logged info.txt fido2-token -I "$FIDO_DEV"
expect_grep '^version strings:.*\bFIDO_2_0\b' info.txt "getInfo versions include FIDO_2_0"
expect_grep '^aaguid: (f1d0f1d05eed4b1da7e5000000000001|f1d0f1d0-5eed-4b1d-a7e5-000000000001)$' info.txt "AAGUID f1d0f1d0-5eed-4b1d-a7e5-000000000001"
expect_grep '^options:.*\brk\b' info.txt "option rk"
expect_grep '^options:.*\bup\b' info.txt "option up"
expect_grep '^options:.*\buv\b' info.txt "option uv"
expect_grep '^algorithms:.*\bes256\b' info.txt "algorithm es256"
expect_grep '^algorithms:.*\beddsa\b' info.txt "algorithm eddsa"
expect_grep '^transport strings:.*\busb\b' info.txt "transport usb"

# make_and_check TYPE RK(0|1) UV(0|1): fido2-cred -M then -V, fido2-assert -G then -V
# (files are read with mapfile: every exec costs ~70 ms under TCG)
make_and_check() {
    local type=$1 rk=$2 uv=$3 name rp uid cdh
    local -a made verified assert
    name=$type-rk$rk-uv$uv
    rp=$name.example.org        # one RP per case, so -r finds exactly one credential
    uid=$(b64rand 16)
    local mflags=(-M -q) vflags=(-V) gflags=(-G -p) aflags=(-V -p)
    [ "$rk" = 1 ] && mflags+=(-r) && gflags+=(-r)
    # -t pin=false: ask for built-in UV without prompting for a PIN
    [ "$uv" = 1 ] && mflags+=(-v) && vflags+=(-v) && gflags+=(-t uv=true -t pin=false) && aflags+=(-v)

    step "$name: fido2-cred ${mflags[*]} $FIDO_DEV $type"
    cdh=$(b64rand 32)
    printf '%s\n%s\n%s\n%s\n' "$cdh" "$rp" "user-$name" "$uid" > "$name.cred_param"
    run_logged "$name.made" fido2-cred "${mflags[@]}" -i "$name.cred_param" "$FIDO_DEV" "$type" </dev/null
    mapfile -t made < "$name.made"
    [ "${made[0]}" = "$cdh" ] || fail "made: client data hash changed"
    [ "${made[1]}" = "$rp" ] || fail "made: rp id changed"
    [ "${made[2]}" = packed ] || fail "made: format is '${made[2]}', expected packed"
    [ "${#made[@]}" -ge 7 ] || fail "made: no attestation certificate (x5c) line"
    ok "format packed, with an attestation certificate"

    step "$name: fido2-cred ${vflags[*]} $type"
    run_logged "$name.verified" fido2-cred "${vflags[@]}" -i "$name.made" "$type"
    mapfile -t verified < "$name.verified"
    [ "${verified[0]}" = "${made[4]}" ] || fail "verified credential id differs from the made one"
    printf '%s\n' "${verified[@]:1}" > "$name.pub.pem"
    expect_grep '^-----BEGIN PUBLIC KEY-----$' "$name.pub.pem" "attestation verified${vflags[1]:+, UV bit set}; public key extracted"

    step "$name: fido2-assert ${gflags[*]} $FIDO_DEV"
    cdh=$(b64rand 32)
    printf '%s\n%s\n' "$cdh" "$rp" > "$name.assert_param"
    [ "$rk" = 1 ] || printf '%s\n' "${made[4]}" >> "$name.assert_param"   # credential id
    run_logged "$name.assert" fido2-assert "${gflags[@]}" -i "$name.assert_param" "$FIDO_DEV" </dev/null
    mapfile -t assert < "$name.assert"
    if [ "$rk" = 1 ]; then
        [ "${#assert[@]}" = 5 ] || fail "expected exactly one assertion (5 lines) for $rp"
        [ "${assert[4]}" = "$uid" ] || fail "discoverable assertion returned user id ${assert[4]}, expected $uid"
        ok "one assertion, with the user id given at registration"
    fi
    step "$name: fido2-assert ${aflags[*]} $name.pub.pem $type"
    run_logged "$name.assert_verify" fido2-assert "${aflags[@]}" -i "$name.assert" "$name.pub.pem" "$type"
    ok "assertion signature verified${aflags[2]:+, UV bit set}"

    # the check can fail: the same assertion must not verify for another client data hash
    printf '%s\n' "$(b64rand 32)" "${assert[@]:1:3}" > "$name.assert_bad"
    if fido2-assert "${aflags[@]}" -i "$name.assert_bad" "$name.pub.pem" "$type" >/dev/null 2>&1; then
        fail "fido2-assert -V accepted a signature over another client data hash"
    fi
    ok "a tampered client data hash is rejected"

    if [ "$uv" = 1 ]; then
        step "$name: an assertion without UV must fail fido2-assert -V -v"
        run_logged "$name.assert_nouv" fido2-assert -G -p -i "$name.assert_param" "$FIDO_DEV" </dev/null
        if fido2-assert -V -p -v -i "$name.assert_nouv" "$name.pub.pem" "$type" >/dev/null 2>&1; then
            fail "an assertion made without UV verified as user-verified"
        fi
        fido2-assert -V -p -i "$name.assert_nouv" "$name.pub.pem" "$type" || fail "the assertion without UV does not verify"
        ok "UV bit clear when UV was not requested"
    fi
}

for type in es256 eddsa; do
    make_and_check "$type" 0 0
    make_and_check "$type" 1 0
done
make_and_check es256 0 1

step "assertion with one key, verified with the other key's public key, must fail"
if fido2-assert -V -p -i es256-rk0-uv0.assert es256-rk1-uv0.pub.pem es256 >/dev/null 2>&1; then
    fail "an assertion verified under the wrong public key"
fi
ok "rejected"

stop_fidosim
step "libfido2 scenario passed"
