#!/usr/bin/env bash
# libfido2's command-line tools (fido2-token, fido2-cred, fido2-assert)
# against fidosim as a real USB HID key (uhid -> hidraw), inside the VM.
#
# 1. fidosim's defaults (no PIN, built-in UV, makeCredUvNotRqd): getInfo,
#    credentials with and without UV, discoverable ones only with UV,
#    credential management through a UV token, hmac-secret.
# 2. A fresh key with no built-in UV: set a PIN with fido2-token, then
#    credentials and assertions with it, a wrong PIN, credential management
#    (list RPs and credentials, delete), large blobs, a PIN change and a
#    minimum PIN length that forces the next change.
# The tools read the PIN from stdin when there is no tty (there is none
# here: the job's /dev/console never becomes a controlling terminal).
. "$VM_REPO/tests/vm/guest-lib.sh"

work=$(mktemp -d /tmp/libfido2.XXXXXX)
cd "$work"
b64rand() { head -c "$1" /dev/urandom | base64 -w0; }

# expect_output_fail FILE WANT CMD...: CMD (stdin from FILE.in if it exists, else
# /dev/null) must exit non-zero and print exactly WANT (stdout+stderr; the
# tools print their PIN prompts without a newline)
expect_output_fail() {
    local out=$1 want=$2 rc=0 in=/dev/null got; shift 2
    [ -e "$out.in" ] && in=$out.in
    "$@" <"$in" >"$out" 2>&1 || rc=$?
    got=$(<"$out")
    sed 's/^/    /' "$out"
    [ "$rc" != 0 ] || fail "exit 0, expected a failure: $*"
    [ "$got" = "$want" ] || fail "output of '$*' is not: $want"
    ok "refused: $want"
}

# Lines of the key's log: log_mark remembers how many there are, log_since
# PATTERN WHAT checks that a line written since then matches PATTERN.
_log_mark=0
log_mark() { local -a l; mapfile -t l < "$FIDOSIM_LOG"; _log_mark=${#l[@]}; }
log_since() {
    local -a l; mapfile -t -s "$_log_mark" l < "$FIDOSIM_LOG"
    printf '%s\n' "${l[@]}" | grep -Eq -- "$1" || { printf '%s\n' "${l[@]}"; fail "$2 (no log line /$1/)"; }
    ok "$2"
}

# info_line FILE PREFIX: the value of fido2-token -I's line "PREFIX: value"
info_line() {
    local line
    while IFS= read -r line; do
        [ "${line%%: *}" = "$1" ] && { printf '%s\n' "${line#*: }"; return 0; }
    done < "$2"
    return 1
}
expect_info() {
    local got
    got=$(info_line "$1" "$3") || fail "fido2-token -I prints no '$1:' line"
    [ "$got" = "$2" ] || fail "fido2-token -I '$1: $got', expected '$1: $2'"
    ok "$1: $2"
}
# expect_option FILE NAME: NAME appears in the options line as a whole word
expect_option() {
    local opts
    opts=", $(info_line options "$1"), "
    [[ $opts == *", $2, "* ]] || fail "options do not include $2: $opts"
    ok "option $2"
}

start_fidosim

step "fido2-token -L"
run_logged list.txt fido2-token -L
expect_grep "^$FIDO_DEV: vendor=0x1209, product=0x0001" list.txt "fido2-token -L lists $FIDO_DEV as 1209:0001"
expect_grep '^HID_ID=0003:00001209:00000001$' "/sys/class/hidraw/${FIDO_DEV#/dev/}/device/uevent" "the kernel sees bus 0003 (USB)"

step "fido2-token -I $FIDO_DEV"
run_logged info.txt fido2-token -I "$FIDO_DEV"
expect_info 'version strings' 'U2F_V2, FIDO_2_0, FIDO_2_1' info.txt
expect_info 'extension strings' 'credBlob, credProtect, hmac-secret, hmac-secret-mc, largeBlobKey, minPinLength' info.txt
expect_info aaguid f1d0f1d05eed4b1da7e5000000000001 info.txt
expect_info algorithms 'es256 (public-key), eddsa (public-key)' info.txt
expect_info 'transport strings' usb info.txt
expect_info 'pin protocols' '2, 1' info.txt
for o in rk up uv noclientPin pinUvAuthToken makeCredUvNotRqd noalwaysUv credMgmt; do
    expect_option info.txt "$o"
done
expect_info 'uv modality' '0x2 (fingerprint check)' info.txt
expect_info 'minpinlen' 4 info.txt

# make_and_check TYPE RK(0|1) UV(0|1) [PIN]: fido2-cred -M then -V,
# fido2-assert -G then -V. UV is the built-in one (-t pin=false), or with
# PIN through a PIN token. (Files are read with mapfile: every exec costs
# ~70 ms under TCG.)
make_and_check() {
    local type=$1 rk=$2 uv=$3 pin=${4:-} name rp uid cdh
    local -a made verified assert
    name=$type-rk$rk-uv$uv${pin:+-pin}
    rp=$name.example.org        # one RP per case, so -r finds exactly one credential
    uid=$(b64rand 16)
    local mflags=(-M) vflags=(-V) gflags=(-G -p) aflags=(-V -p) nflags=(-G -p)
    [ -n "$pin" ] || mflags+=(-q)   # -q: fail instead of asking for a PIN
    [ "$rk" = 1 ] && mflags+=(-r) && gflags+=(-r) && nflags+=(-r)
    if [ "$uv" = 1 ] && [ -z "$pin" ]; then
        # -t pin=false: ask for built-in UV without prompting for a PIN
        mflags+=(-v) && gflags+=(-t uv=true -t pin=false)
    elif [ "$uv" = 1 ]; then
        gflags+=(-v)    # -v: ask for the PIN and for UV
    fi
    [ "$uv" = 1 ] && vflags+=(-v) && aflags+=(-v)
    local stdin=/dev/null
    [ -n "$pin" ] && printf '%s\n' "$pin" > pin.txt && stdin=pin.txt

    step "$name: fido2-cred ${mflags[*]} $FIDO_DEV $type${pin:+ (PIN on stdin)}"
    cdh=$(b64rand 32)
    printf '%s\n%s\n%s\n%s\n' "$cdh" "$rp" "user-$name" "$uid" > "$name.cred_param"
    run_logged "$name.made" fido2-cred "${mflags[@]}" -i "$name.cred_param" -o "$name.made_out" "$FIDO_DEV" "$type" <"$stdin"
    if [ -n "$pin" ]; then
        [ "$(<"$name.made")" = "Enter PIN for $FIDO_DEV: " ] || fail "fido2-cred did not ask for the PIN once"
        ok "fido2-cred asked for the PIN (makeCredential without it: CTAP2_ERR_PUAT_REQUIRED)"
    fi
    mapfile -t made < "$name.made_out"
    [ "${made[0]}" = "$cdh" ] || fail "made: client data hash changed"
    [ "${made[1]}" = "$rp" ] || fail "made: rp id changed"
    [ "${made[2]}" = packed ] || fail "made: format is '${made[2]}', expected packed"
    [ "${#made[@]}" -ge 7 ] || fail "made: no attestation certificate (x5c) line"
    ok "format packed, with an attestation certificate"

    step "$name: fido2-cred ${vflags[*]} $type"
    run_logged "$name.verified" fido2-cred "${vflags[@]}" -i "$name.made_out" "$type"
    mapfile -t verified < "$name.verified"
    [ "${verified[0]}" = "${made[4]}" ] || fail "verified credential id differs from the made one"
    printf '%s\n' "${verified[@]:1}" > "$name.pub.pem"
    expect_grep '^-----BEGIN PUBLIC KEY-----$' "$name.pub.pem" "attestation verified${vflags[1]:+, UV bit set}; public key extracted"
    if [ "$uv" = 0 ]; then
        # the check can fail: without UV the UV bit must be clear
        if fido2-cred -V -v -i "$name.made_out" "$type" >/dev/null 2>&1; then
            fail "a credential made without UV verified as user-verified"
        fi
        ok "UV bit clear"
    fi

    step "$name: fido2-assert ${gflags[*]} $FIDO_DEV"
    cdh=$(b64rand 32)
    printf '%s\n%s\n' "$cdh" "$rp" > "$name.assert_param"
    [ "$rk" = 1 ] || printf '%s\n' "${made[4]}" >> "$name.assert_param"   # credential id
    run_logged "$name.assert_log" fido2-assert "${gflags[@]}" -i "$name.assert_param" -o "$name.assert" "$FIDO_DEV" <"$stdin"
    if [ -n "$pin" ] && [ "$uv" = 1 ]; then
        [ "$(<"$name.assert_log")" = "Enter PIN for $FIDO_DEV: " ] || fail "fido2-assert did not ask for the PIN once"
        ok "fido2-assert asked for the PIN"
    fi
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
        run_logged "$name.assert_nouv_log" fido2-assert "${nflags[@]}" -i "$name.assert_param" -o "$name.assert_nouv" "$FIDO_DEV" </dev/null
        if fido2-assert -V -p -v -i "$name.assert_nouv" "$name.pub.pem" "$type" >/dev/null 2>&1; then
            fail "an assertion made without UV verified as user-verified"
        fi
        fido2-assert -V -p -i "$name.assert_nouv" "$name.pub.pem" "$type" || fail "the assertion without UV does not verify"
        ok "UV bit clear when UV was not requested"
    fi
}

for type in es256 eddsa; do
    make_and_check "$type" 0 0
    make_and_check "$type" 1 1
done
make_and_check es256 0 1

step "assertion with one key, verified with the other key's public key, must fail"
if fido2-assert -V -p -i es256-rk0-uv0.assert es256-rk1-uv1.pub.pem es256 >/dev/null 2>&1; then
    fail "an assertion verified under the wrong public key"
fi
ok "rejected"

# Credential management with the built-in UV: with no PIN given, libfido2
# asks the key for a token through getPinUvAuthTokenUsingUvWithPermissions,
# so fido2-token -L -r prompts for nothing.
step "fido2-token -L -r with built-in UV (no PIN set)"
rphash() { printf '%s' "$1" | openssl dgst -sha256 -binary | base64 -w0; }
run_logged rps-uv.txt fido2-token -L -r "$FIDO_DEV" </dev/null
# (no process substitution here: the VM's /dev has no /dev/fd)
mapfile -t got <<<"$(sed 's/^[0-9][0-9]: //' rps-uv.txt | sort)"
mapfile -t want <<<"$(for rp in es256-rk1-uv1.example.org eddsa-rk1-uv1.example.org; do
    echo "$(rphash "$rp") $rp"; done | sort)"
[ "${got[*]}" = "${want[*]}" ] || fail "fido2-token -L -r listed: ${got[*]}; expected: ${want[*]}"
ok "the two RPs with discoverable credentials, no PIN prompt"

# A key protected by UV makes a discoverable credential only with UV, even
# with makeCredUvNotRqd (CTAP 2.1 §6.1.2 step 7): without a PIN set, the
# answer is CTAP2_ERR_OPERATION_DENIED.
step "discoverable credential without UV: fido2-cred -M -q -r"
printf '%s\n%s\n%s\n%s\n' "$(b64rand 32)" rk-nouv.example.org user-rk-nouv "$(b64rand 16)" > rk-nouv.cred_param
log_mark
expect_output_fail rk-nouv.made 'fido2-cred: fido_dev_make_cred: FIDO_ERR_OPERATION_DENIED' \
    fido2-cred -M -q -r -i rk-nouv.cred_param "$FIDO_DEV" es256
log_since 'command="makeCredential" .*status=CTAP2_ERR_OPERATION_DENIED' "the key answered CTAP2_ERR_OPERATION_DENIED"
printf '%s\n%s\n' "$(b64rand 32)" rk-nouv.example.org > rk-nouv.assert_param
expect_output_fail rk-nouv.assert 'fido2-assert: fido_dev_get_assert: FIDO_ERR_NO_CREDENTIALS' \
    fido2-assert -G -r -i rk-nouv.assert_param "$FIDO_DEV"

# hmac-secret: the same salt gives the same secret, another salt another
# one, and with UV the key uses its other CredRandom (CTAP 2.1 §12.5).
step "hmac-secret: fido2-cred -M -h, fido2-assert -G -h"
printf '%s\n%s\n%s\n%s\n' "$(b64rand 32)" hmac.example.org user-hmac "$(b64rand 16)" > hmac.cred_param
run_logged hmac.made_log fido2-cred -M -q -h -i hmac.cred_param -o hmac.made "$FIDO_DEV" es256 </dev/null
run_logged hmac.verified fido2-cred -V -h -i hmac.made es256
mapfile -t made < hmac.made
mapfile -t verified < hmac.verified
printf '%s\n' "${verified[@]:1}" > hmac.pub.pem
ok "credential made; fido2-cred -V -h: the extension data flag is signed"
if fido2-cred -V -i hmac.made es256 >/dev/null 2>&1; then
    fail "fido2-cred -V without -h accepted a credential with hmac-secret output"
fi
ok "fido2-cred -V without -h rejects it (ED set)"
salt1=$(b64rand 32); salt2=$(b64rand 32)
# hmac_assert OUT SALT [FLAGS...]: prints the hmac secret (5th line)
hmac_assert() {
    local out=$1 salt=$2; shift 2
    local -a a
    printf '%s\n%s\n%s\n%s\n' "$(b64rand 32)" hmac.example.org "${made[4]}" "$salt" > "$out.param"
    fido2-assert -G -p -h "$@" -i "$out.param" -o "$out" "$FIDO_DEV" </dev/null >"$out.log" 2>&1 \
        || { cat "$out.log" >&2; fail "fido2-assert -G -h $*"; }
    fido2-assert -V -p -h -i "$out" hmac.pub.pem es256 || fail "fido2-assert -V -h $out"
    mapfile -t a < "$out"
    [ "${#a[@]}" = 5 ] || fail "fido2-assert -G -h printed ${#a[@]} lines, expected 5"
    [ "$(printf '%s' "${a[4]}" | base64 -d | wc -c)" = 32 ] || fail "hmac secret is not 32 bytes: ${a[4]}"
    printf '%s\n' "${a[4]}"
}
s1=$(hmac_assert h1 "$salt1")
s1b=$(hmac_assert h1b "$salt1")
s2=$(hmac_assert h2 "$salt2")
s1uv=$(hmac_assert h1uv "$salt1" -t uv=true -t pin=false)
echo "    salt1: $s1, again: $s1b; salt2: $s2; salt1 with UV: $s1uv"
[ "$s1" = "$s1b" ] || fail "hmac-secret differs for the same salt"
ok "the same salt gives the same 32-byte secret (assertions verified with -h)"
[ "$s1" != "$s2" ] || fail "hmac-secret is the same for two salts"
ok "another salt gives another secret"
[ "$s1" != "$s1uv" ] || fail "hmac-secret with UV equals the one without UV"
ok "with UV the secret differs (CredRandomWithUV)"

stop_fidosim

# ---------------------------------------------------------------- PIN
# A fresh key whose only user verification is its PIN (--uv none), like
# most hardware keys: every UV below goes through a PIN token.
start_fidosim --uv none
run_logged info-nopin.txt fido2-token -I "$FIDO_DEV"
expect_option info-nopin.txt noclientPin
opts=", $(info_line options info-nopin.txt), "
[[ $opts != *", uv, "* ]] || fail "option uv with --uv none"
ok "no uv option (--uv none)"

step "fido2-token -S: a PIN mismatch on stdin is refused"
printf '1234\n4321\n' > setpin-mismatch.in
expect_output_fail setpin-mismatch "Enter new PIN for $FIDO_DEV: Enter the same PIN again: PINs do not match. Try again." \
    fido2-token -S "$FIDO_DEV"

step "fido2-token -S: set the PIN 1234 (read from stdin)"
printf '1234\n1234\n' | run_logged setpin.log fido2-token -S "$FIDO_DEV"
[ "$(<setpin.log)" = "Enter new PIN for $FIDO_DEV: Enter the same PIN again: " ] || fail "unexpected fido2-token -S output"
ok "PIN set"
fido2-token -I "$FIDO_DEV" > info-pin.txt 2>&1 || fail "fido2-token -I"
expect_option info-pin.txt clientPin
expect_info 'pin retries' 8 info-pin.txt
expect_info 'remaining rk(s)' 100000 info-pin.txt

step "discoverable credential without the PIN: fido2-cred -M -q -r"
printf '%s\n%s\n%s\n%s\n' "$(b64rand 32)" rk-nopin.example.org user-rk-nopin "$(b64rand 16)" > rk-nopin.cred_param
log_mark
expect_output_fail rk-nopin.made 'fido2-cred: fido_dev_make_cred: FIDO_ERR_PIN_REQUIRED' \
    fido2-cred -M -q -r -i rk-nopin.cred_param "$FIDO_DEV" es256
log_since 'command="makeCredential" .*status=CTAP2_ERR_PUAT_REQUIRED' "the key answered CTAP2_ERR_PUAT_REQUIRED"

make_and_check es256 1 1 1234
make_and_check eddsa 1 1 1234

step "a wrong PIN"
cp es256-rk1-uv1-pin.assert_param wrongpin.param
echo 9999 > wrongpin.in
expect_output_fail wrongpin "Enter PIN for $FIDO_DEV: fido2-assert: fido_dev_get_assert: FIDO_ERR_PIN_INVALID" \
    fido2-assert -G -p -r -v -i wrongpin.param "$FIDO_DEV"
fido2-token -I "$FIDO_DEV" > info-pin2.txt 2>&1 || fail "fido2-token -I"
expect_info 'pin retries' 7 info-pin2.txt
expect_info 'remaining rk(s)' 99998 info-pin2.txt   # 100000 minus the two made above
echo 1234 | run_logged rightpin.log fido2-assert -G -p -r -v -i wrongpin.param -o rightpin.assert "$FIDO_DEV"
fido2-token -I "$FIDO_DEV" > info-pin3.txt 2>&1 || fail "fido2-token -I"
expect_info 'pin retries' 8 info-pin3.txt

# Credential management (the tools use credentialManagementPreview, 0x41)
# with a PIN token. Two more credentials for one RP, with credProtect
# levels 1 and 3 (fido2-token prints them as uvopt and uvreq).
step "credential management: two credentials for cm.example.org"
for u in alice:1 bob:3; do
    uid=$(b64rand 16)
    printf '%s\n%s\n%s\n%s\n' "$(b64rand 32)" cm.example.org "${u%:*}" "$uid" > "cm-${u%:*}.cred_param"
    echo 1234 | run_logged "cm-${u%:*}.log" fido2-cred -M -r -c "${u#*:}" -i "cm-${u%:*}.cred_param" -o "cm-${u%:*}.made" "$FIDO_DEV" es256
    fido2-cred -V -c "${u#*:}" -i "cm-${u%:*}.made" es256 >/dev/null || fail "fido2-cred -V -c ${u#*:}: credProtect level not in the authenticator data"
    ok "${u%:*}: credProtect ${u#*:} signed in the authenticator data"
done
mapfile -t alice < cm-alice.made; mapfile -t bob < cm-bob.made
alice_uid=$(sed -n 4p cm-alice.cred_param); bob_uid=$(sed -n 4p cm-bob.cred_param)

step "fido2-token -L -r: the RPs"
echo 9999 > cm-wrongpin.in
expect_output_fail cm-wrongpin "Enter PIN for $FIDO_DEV: fido2-token: fido_credman_get_dev_rp: FIDO_ERR_PIN_INVALID" \
    fido2-token -L -r "$FIDO_DEV"
echo 1234 | run_logged rps.txt fido2-token -L -r "$FIDO_DEV"
mapfile -t got <<<"$(sed 's/^Enter PIN for [^:]*: //; s/^[0-9][0-9]: //' rps.txt | sort)"
mapfile -t want <<<"$(for rp in es256-rk1-uv1-pin.example.org eddsa-rk1-uv1-pin.example.org cm.example.org; do
    echo "$(rphash "$rp") $rp"; done | sort)"
[ "${got[*]}" = "${want[*]}" ] || fail "fido2-token -L -r listed: ${got[*]}; expected: ${want[*]}"
ok "three RPs, with their SHA-256 RP ID hashes"

step "fido2-token -L -k cm.example.org: the credentials"
echo 1234 | run_logged creds.txt fido2-token -L -k cm.example.org "$FIDO_DEV"
mapfile -t got <<<"$(sed 's/^Enter PIN for [^:]*: //; s/^[0-9][0-9]: //' creds.txt | sort)"
# credential id, display name (fido2-cred sets none), user id, type, credProtect
mapfile -t want <<<"$(printf '%s\n' "${alice[4]} (null) $alice_uid es256 uvopt" "${bob[4]} (null) $bob_uid es256 uvreq" | sort)"
[ "${got[*]}" = "${want[*]}" ] || fail "fido2-token -L -k listed: ${got[*]}; expected: ${want[*]}"
ok "alice (uvopt) and bob (uvreq), with their credential and user ids"

step "fido2-token -D -i: delete bob's credential"
echo 1234 | run_logged delete.log fido2-token -D -i "${bob[4]}" "$FIDO_DEV"
echo 1234 | run_logged creds2.txt fido2-token -L -k cm.example.org "$FIDO_DEV"
mapfile -t got <<<"$(sed 's/^Enter PIN for [^:]*: //' creds2.txt)"
[ "${got[*]}" = "00: ${alice[4]} (null) $alice_uid es256 uvopt" ] || fail "after the delete, fido2-token -L -k listed: ${got[*]}"
ok "only alice is left"
printf '%s\n%s\n%s\n' "$(b64rand 32)" cm.example.org "${bob[4]}" > bob.assert_param
expect_output_fail bob.assert 'fido2-assert: fido_dev_get_assert: FIDO_ERR_NO_CREDENTIALS' \
    fido2-assert -G -p -i bob.assert_param "$FIDO_DEV"
echo 1234 > delete-again.in
expect_output_fail delete-again "Enter PIN for $FIDO_DEV: fido2-token: fido_credman_del_dev_rk: FIDO_ERR_NO_CREDENTIALS" \
    fido2-token -D -i "${bob[4]}" "$FIDO_DEV"

# Large blobs: the blob is sealed under the credential's largeBlobKey, which
# fido2-token finds through credential management (-n/-i) and fido2-cred -b
# returned at creation (-k). (libfido2 1.12 cannot seal a blob that
# compresses to less than 16 bytes, so this one is random.)
step "large blobs: fido2-cred -b, fido2-token -S/-G/-D -b"
printf '%s\n%s\n%s\n%s\n' "$(b64rand 32)" blob.example.org carol "$(b64rand 16)" > blob.cred_param
echo 1234 | run_logged blob-cred.log fido2-cred -M -r -b -i blob.cred_param -o blob.made "$FIDO_DEV" es256
mapfile -t made < blob.made
[ "${#made[@]}" = 8 ] && [ "$(printf '%s' "${made[7]}" | base64 -d | wc -c)" = 32 ] || fail "fido2-cred -b printed no 32-byte largeBlobKey"
printf '%s\n' "${made[7]}" > blob.key
ok "largeBlobKey returned at creation"
b64rand 300 > blob.data
echo 1234 | run_logged blob-set.log fido2-token -S -b -n blob.example.org -i "${made[4]}" blob.data "$FIDO_DEV"
run_logged blob-get.log fido2-token -G -b -k blob.key blob.out "$FIDO_DEV" </dev/null
cmp blob.data blob.out || fail "the blob read back differs"
ok "blob written (key from credential management) and read back (key from makeCredential)"
echo 1234 | run_logged blob-del.log fido2-token -D -b -k blob.key "$FIDO_DEV"
expect_output_fail blob-gone 'fido2-token: fido_dev_largeblob_get: FIDO_ERR_NOTFOUND' \
    fido2-token -G -b -k blob.key blob.out2 "$FIDO_DEV"

step "fido2-token -C: change the PIN to 5678"
printf '1234\n5678\n5678\n' | run_logged changepin.log fido2-token -C "$FIDO_DEV"
[ "$(<changepin.log)" = "Enter current PIN for $FIDO_DEV: Enter new PIN for $FIDO_DEV: Enter the same PIN again: " ] \
    || fail "unexpected fido2-token -C output"
ok "PIN changed"
echo 1234 > oldpin.in
expect_output_fail oldpin "Enter PIN for $FIDO_DEV: fido2-assert: fido_dev_get_assert: FIDO_ERR_PIN_INVALID" \
    fido2-assert -G -p -r -v -i wrongpin.param "$FIDO_DEV"
echo 5678 | run_logged newpin.log fido2-assert -G -p -r -v -i wrongpin.param -o newpin.assert "$FIDO_DEV"
fido2-assert -V -p -v -i newpin.assert es256-rk1-uv1-pin.pub.pem es256 || fail "the assertion with the new PIN does not verify with UV"
ok "the new PIN works (UV bit set)"

# authenticatorConfig setMinPINLength: a longer minimum than the PIN forces
# a PIN change (CTAP 2.1 §6.11.4); until then no PIN token is given.
step "fido2-token -S -l 6: minimum PIN length 6"
echo 5678 | run_logged minpin.log fido2-token -S -l 6 "$FIDO_DEV"
fido2-token -I "$FIDO_DEV" > info-minpin.txt 2>&1 || fail "fido2-token -I"
expect_info minpinlen 6 info-minpin.txt
expect_info 'pin change required' true info-minpin.txt
echo 5678 > forced.in
expect_output_fail forced "Enter PIN for $FIDO_DEV: fido2-assert: fido_dev_get_assert: FIDO_ERR_PIN_POLICY_VIOLATION" \
    fido2-assert -G -p -r -v -i wrongpin.param "$FIDO_DEV"
printf '5678\n4321\n4321\n' > shortpin.in
expect_output_fail shortpin "Enter current PIN for $FIDO_DEV: Enter new PIN for $FIDO_DEV: Enter the same PIN again: fido2-token: fido_dev_set_pin: FIDO_ERR_PIN_POLICY_VIOLATION" \
    fido2-token -C "$FIDO_DEV"
printf '5678\n246810\n246810\n' | run_logged changepin6.log fido2-token -C "$FIDO_DEV"
fido2-token -I "$FIDO_DEV" > info-minpin2.txt 2>&1 || fail "fido2-token -I"
expect_info 'pin change required' false info-minpin2.txt
echo 246810 | run_logged pin6.log fido2-assert -G -p -r -v -i wrongpin.param -o pin6.assert "$FIDO_DEV"
ok "a 6-digit PIN clears the forced change and works"

stop_fidosim
step "libfido2 scenario passed"
