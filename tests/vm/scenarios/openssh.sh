#!/usr/bin/env bash
# OpenSSH FIDO keys (ecdsa-sk, ed25519-sk) with fidosim as a USB HID key,
# inside the VM. ssh-keygen talks to the key through Debian's built-in
# provider ("internal": /usr/lib/openssh/ssh-sk-helper, linked to libfido2).
#
# The key starts with a PIN (fidosim run --pin), as resident keys and
# `ssh-keygen -K` need one. Without a tty, ssh-keygen reads the PIN (and
# the passphrases) from stdin: "Enter PIN for authenticator:" when it
# enrols or downloads, "Enter PIN for ED25519-SK key:" when it signs with
# a verify-required key.
. "$VM_REPO/tests/vm/guest-lib.sh"

work=$(mktemp -d /tmp/openssh.XXXXXX)
cd "$work"
export SSH_SK_PROVIDER=internal
PIN=123456
CR=$'\r'   # OpenSSH's log functions end their stderr lines with \r\n

start_fidosim --pin "$PIN"

msg=$work/message.txt
echo "fidosim openssh scenario $(date -u +%FT%TZ)" > "$msg"

# sign_and_verify KEYFILE FLAGS [STDIN [PUBFILE]]: ssh-keygen -Y sign (stdin
# from STDIN, default /dev/null), then -Y verify against PUBFILE (default
# KEYFILE.pub; must succeed, with the authenticator flags FLAGS in the
# signature: 0x01 = user present, 0x00 = no touch, 0x05 = present and
# verified) and -Y verify of a changed message (must fail)
sign_and_verify() {
    local key=$1 want_flags=$2 in=${3:-/dev/null} pub=${4:-$1.pub} principal=tester@example.org
    step "ssh-keygen -Y sign -f ${key##*/} -n file"
    rm -f "$msg.sig"
    run_logged sign.log ssh-keygen -Y sign -f "$key" -n file "$msg" <"$in"
    [ -s "$msg.sig" ] || fail "no signature file"
    expect_grep '^-----BEGIN SSH SIGNATURE-----$' "$msg.sig" "signature written"
    echo "$principal $(cat "$pub")" > allowed_signers
    step "ssh-keygen -Y verify"
    # -vv prints the FIDO signature details (counter, flags)
    run_logged verify.log ssh-keygen -vv -Y verify -f allowed_signers -I "$principal" -n file -s "$msg.sig" < "$msg"
    expect_grep "^Good \"file\" signature for $principal with" verify.log "signature verified"
    expect_grep "signature details: counter = [0-9]+, flags = $want_flags([^0-9a-fA-F]|$)" verify.log "authenticator flags $want_flags"
    if { cat "$msg"; echo tampered; } | ssh-keygen -Y verify -f allowed_signers -I "$principal" -n file -s "$msg.sig" >bad.log 2>&1; then
        cat bad.log; fail "a changed message verified"
    fi
    ok "a changed message is rejected"
}

# 1. non-resident keys, both algorithms
for t in ecdsa-sk ed25519-sk; do
    step "ssh-keygen -t $t -N ''"
    run_logged "keygen-$t.log" ssh-keygen -t "$t" -N "" -C "vm-$t" -f "$work/id_$t" </dev/null
    [ -s "$work/id_$t" ] && [ -s "$work/id_$t.pub" ] || fail "key files missing"
    case $t in
        ecdsa-sk)   expect_grep '^sk-ecdsa-sha2-nistp256@openssh.com ' "$work/id_$t.pub" "public key type sk-ecdsa-sha2-nistp256@openssh.com" ;;
        ed25519-sk) expect_grep '^sk-ssh-ed25519@openssh.com ' "$work/id_$t.pub" "public key type sk-ssh-ed25519@openssh.com" ;;
    esac
    sign_and_verify "$work/id_$t" 0x01
done

# 2. no-touch-required: ssh asks for up=false, so the signature must carry UP=0
step "ssh-keygen -t ecdsa-sk -O no-touch-required"
run_logged keygen-nt.log ssh-keygen -t ecdsa-sk -O no-touch-required -N "" -f "$work/id_nt" </dev/null
sign_and_verify "$work/id_nt" 0x00

# 3. resident keys. On a key with a PIN, a discoverable credential needs
#    UV (CTAP2_ERR_PUAT_REQUIRED without it): ssh-keygen asks for the PIN.
#    verify-required adds credProtect userVerificationRequired and UV on
#    every signature.
echo "$PIN" > pin.txt
printf '%s\n' 999999 > wrongpin.txt
step "ssh-keygen -t ed25519-sk -O resident -O verify-required -O application=ssh:fidosim-vm -O user=alice"
run_logged rk.log ssh-keygen -t ed25519-sk -O resident -O verify-required -O application=ssh:fidosim-vm \
    -O user=alice -N "" -f "$work/id_rk" <pin.txt
expect_grep '^Enter PIN for authenticator: ' rk.log "ssh-keygen asked for the PIN"
expect_grep '^sk-ssh-ed25519@openssh.com ' "$work/id_rk.pub" "resident ed25519-sk key created"
expect_grep 'command="makeCredential" .*status=CTAP2_ERR_PUAT_REQUIRED' "$FIDOSIM_LOG" "the first makeCredential (no PIN) was refused with CTAP2_ERR_PUAT_REQUIRED"
sign_and_verify "$work/id_rk" 0x05 pin.txt
expect_grep '^Enter PIN for ED25519-SK key: ' sign.log "signing asked for the PIN"

step "ssh-keygen -Y sign with a wrong PIN"
rm -f "$msg.sig"
if ssh-keygen -Y sign -f "$work/id_rk" -n file "$msg" <wrongpin.txt >badsign.log 2>&1; then
    cat badsign.log; fail "signing with a wrong PIN succeeded"
fi
sed 's/^/    /' badsign.log
expect_grep "^Signing $msg failed: incorrect passphrase supplied to decrypt private key$CR?\$" badsign.log "a wrong PIN is refused"
[ ! -e "$msg.sig" ] || fail "a signature was written"

step "ssh-keygen -t ecdsa-sk -O resident -O application=ssh:fidosim-vm2 -O user=bob"
run_logged rk2.log ssh-keygen -t ecdsa-sk -O resident -O application=ssh:fidosim-vm2 -O user=bob \
    -N "" -f "$work/id_rk2" <pin.txt
expect_grep '^Enter PIN for authenticator: ' rk2.log "ssh-keygen asked for the PIN"
sign_and_verify "$work/id_rk2" 0x01

# 4. ssh-keygen -K (download resident keys) in an empty directory: it
#    finds them through credential management, with the PIN
step "ssh-keygen -K with a wrong PIN"
mkdir "$work/download" && cd "$work/download"
if ssh-keygen -K <"$work/wrongpin.txt" >"$work/download-bad.log" 2>&1; then
    cat "$work/download-bad.log"; fail "ssh-keygen -K with a wrong PIN succeeded"
fi
sed 's/^/    /' "$work/download-bad.log"
expect_grep "^Unable to load resident keys: incorrect passphrase supplied to decrypt private key$CR?\$" "$work/download-bad.log" "a wrong PIN is refused"
[ -z "$(ls -A .)" ] || fail "ssh-keygen -K left files behind"

step "ssh-keygen -K"
# the PIN, then an empty passphrase twice for the files it writes
printf '%s\n\n\n' "$PIN" | run_logged "$work/download.log" ssh-keygen -K
expect_grep "^Saved ED25519-SK key ssh:fidosim-vm to id_ed25519_sk_rk_fidosim-vm_alice$CR?\$" "$work/download.log" "alice's key downloaded"
expect_grep "^Saved ECDSA-SK key ssh:fidosim-vm2 to id_ecdsa_sk_rk_fidosim-vm2_bob$CR?\$" "$work/download.log" "bob's key downloaded"
[ "$(ls | LC_ALL=C sort | tr '\n' ' ')" = "id_ecdsa_sk_rk_fidosim-vm2_bob id_ecdsa_sk_rk_fidosim-vm2_bob.pub id_ed25519_sk_rk_fidosim-vm_alice id_ed25519_sk_rk_fidosim-vm_alice.pub " ] \
    || fail "unexpected files: $(ls)"
for pair in id_ed25519_sk_rk_fidosim-vm_alice:id_rk id_ecdsa_sk_rk_fidosim-vm2_bob:id_rk2; do
    [ "$(cut -d' ' -f1-2 "${pair%:*}.pub")" = "$(cut -d' ' -f1-2 "$work/${pair#*:}.pub")" ] \
        || fail "${pair%:*}.pub does not match ${pair#*:}.pub"
    ok "${pair%:*}.pub matches ${pair#*:}.pub"
done
cd "$work"
# The downloaded private keys (handles to the credentials) sign too.
sign_and_verify "$work/download/id_ecdsa_sk_rk_fidosim-vm2_bob" 0x01 /dev/null "$work/id_rk2.pub"
# alice's credential has credProtect 3 (userVerificationRequired; the key
# reports it through credential management). OpenSSH 9.2 still writes the
# downloaded key without its verify-required flag, so ssh-keygen asks for
# no PIN and no UV; the key must then act as if the credential did not
# exist (CTAP 2.1 §12.1), and ssh-keygen fails. An OpenSSH that keeps the
# flag asks for the PIN and gets a signature with UV.
step "ssh-keygen -Y sign with the downloaded verify-required key"
rm -f "$msg.sig"
log_lines() { local -a l; mapfile -t l < "$FIDOSIM_LOG"; echo "${#l[@]}"; }
mark=$(log_lines)
rc=0
ssh-keygen -Y sign -f "$work/download/id_ed25519_sk_rk_fidosim-vm_alice" -n file "$msg" <pin.txt >dlsign.log 2>&1 || rc=$?
sed 's/^/    /' dlsign.log
if grep -q '^Enter PIN for ED25519-SK key: ' dlsign.log; then
    [ "$rc" = 0 ] || fail "signing with the downloaded verify-required key and the PIN failed"
    sign_and_verify "$work/download/id_ed25519_sk_rk_fidosim-vm_alice" 0x05 pin.txt "$work/id_rk.pub"
else
    [ "$rc" != 0 ] || fail "a credProtect=3 credential signed without UV"
    expect_grep "^Signing $msg failed: invalid format$CR?\$" dlsign.log "ssh-keygen (no verify-required flag on the downloaded key) fails"
    tail -n +"$((mark + 1))" "$FIDOSIM_LOG" > dlsign-key.log
    expect_grep 'command="getAssertion" .*status=CTAP2_ERR_NO_CREDENTIALS' dlsign-key.log \
        "the key hides the credProtect=3 credential from a getAssertion without UV"
fi

stop_fidosim
step "openssh scenario passed"
