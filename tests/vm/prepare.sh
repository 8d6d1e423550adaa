#!/usr/bin/env bash
# Prepares everything tests/vm/run.sh needs, idempotently:
#   - host packages: qemu-system-x86, busybox-static, xz-utils, cpio,
#     fido2-tools, openssh-client, chromium, chromium-driver, firefox-esr, udev (the VM runs the host's binaries over 9p,
#     so the guest tools are simply the host's installed packages)
#   - a Debian kernel (the package linux-image-amd64 depends on), fetched
#     with apt-get download and unpacked with dpkg -x into tests/vm/cache/
#     (never installed on the host), plus an uncompressed vmlinux for PVH boot
#   - a tiny initramfs: busybox + the virtio/9p/hid/uhid modules + init
#   - the python-fido2 venv at .venv (only if missing)
#   - the browser rigs (tests/rigs/): their npm packages (@playwright/test),
#     Selenium in .venv, and geckodriver, built from crates.io with cargo
#     into tests/vm/cache/geckodriver/ (Debian has no geckodriver package)
# Everything downloaded or built goes to tests/vm/cache/ (gitignored).
set -euo pipefail

VM_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$VM_DIR/../.." && pwd)
CACHE=$VM_DIR/cache
mkdir -p "$CACHE"
# one prepare at a time (run.sh calls it before every run)
exec 9>"$CACHE/.prepare.lock"
flock -w 1200 9 || { echo "[prepare] error: cannot lock $CACHE/.prepare.lock" >&2; exit 1; }

log() { printf '[prepare] %s\n' "$*" >&2; }
die() { printf '[prepare] error: %s\n' "$*" >&2; exit 1; }

# Every step that can hang (network, apt) is bounded.
T() { local secs=$1; shift; timeout -k 10 "$secs" "$@"; }

# ---------------------------------------------------------------- packages
HOST_PKGS=(qemu-system-x86 busybox-static xz-utils cpio fido2-tools openssh-client chromium chromium-driver firefox-esr udev)
apt_updated=0
apt_update_once() {
    if [ "$apt_updated" = 0 ]; then
        log "apt-get update"
        T 300 apt-get update -qq
        apt_updated=1
    fi
}
missing=()
for p in "${HOST_PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "need root to install: ${missing[*]}"
    apt_update_once
    log "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive T 900 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for tool in qemu-system-x86_64 busybox xz cpio fido2-token fido2-cred fido2-assert ssh-keygen; do
    command -v "$tool" >/dev/null || die "$tool not found after installing packages"
done

# ------------------------------------------------------------------ kernel
# The kernel package name (e.g. linux-image-6.1.0-56-amd64) is pinned in
# cache/kernel-package once chosen, so a warm run needs no apt at all.
kernel_pkg_name() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}'; }
kernel_download() {  # $1 = package; into $CACHE/kernel/dl
    rm -rf "$CACHE/kernel/dl"
    mkdir -p "$CACHE/kernel/dl"
    # apt's download sandbox user must be able to write there
    chown _apt "$CACHE/kernel/dl" 2>/dev/null || true
    (cd "$CACHE/kernel/dl" && T 600 apt-get download -q "$1" >/dev/null)
}
KPKG=
if [ -s "$CACHE/kernel-package" ] && [ -e "$CACHE/kernel/$(cat "$CACHE/kernel-package")/.unpacked" ]; then
    KPKG=$(cat "$CACHE/kernel-package")
fi
if [ -z "$KPKG" ]; then
    KPKG=$(kernel_pkg_name)
    if [ -z "$KPKG" ]; then apt_update_once; KPKG=$(kernel_pkg_name); fi
    [ -n "$KPKG" ] || die "cannot find the package linux-image-amd64 depends on"
    log "downloading $KPKG"
    if ! kernel_download "$KPKG"; then
        # stale package lists: the mirror may have moved on to a newer ABI
        apt_update_once
        KPKG=$(kernel_pkg_name)
        log "downloading $KPKG (after apt-get update)"
        kernel_download "$KPKG" || die "apt-get download $KPKG failed"
    fi
    KROOT=$CACHE/kernel/$KPKG
    log "unpacking $KPKG"
    rm -rf "$KROOT"
    mkdir -p "$KROOT"
    dpkg -x "$CACHE"/kernel/dl/*.deb "$KROOT"
    rm -rf "$CACHE/kernel/dl"
    touch "$KROOT/.unpacked"
fi
KROOT=$CACHE/kernel/$KPKG
echo "$KPKG" > "$CACHE/kernel-package"

VMLINUZ=$(ls "$KROOT"/boot/vmlinuz-* | head -n1)
KVER=${VMLINUZ##*/vmlinuz-}
MODDIR=$KROOT/lib/modules/$KVER
[ -d "$MODDIR" ] || die "no modules directory $MODDIR"

# The uncompressed kernel (an ELF with a PVH entry note) boots faster with
# qemu -kernel than the bzImage. Extract it the way scripts/extract-vmlinux
# does: find the compressed stream's magic inside the bzImage and decompress.
extract_vmlinux() {
    local img=$1 out=$2 off
    local -a formats=(
        'xz|\xfd7zXZ\x00|xz -dc'
        'zstd|\x28\xb5\x2f\xfd|zstd -dcq'
        'gzip|\x1f\x8b\x08|gzip -dc'
    )
    local f name magic cmd
    for f in "${formats[@]}"; do
        IFS='|' read -r name magic cmd <<<"$f"
        for off in $(LC_ALL=C grep -obUaP "$magic" "$img" | cut -d: -f1); do
            # a trailing-garbage warning is expected: ignore the status, check the result
            tail -c +"$((off + 1))" "$img" | $cmd > "$out.tmp" 2>/dev/null || true
            if [ -s "$out.tmp" ] && [ "$(head -c4 "$out.tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
                mv "$out.tmp" "$out"
                log "extracted vmlinux ($name stream at offset $off)"
                return 0
            fi
        done
    done
    rm -f "$out.tmp"
    return 1
}
if [ ! -s "$CACHE/vmlinux-$KVER" ] && [ ! -e "$CACHE/vmlinux-$KVER.failed" ]; then
    extract_vmlinux "$VMLINUZ" "$CACHE/vmlinux-$KVER" || {
        log "could not extract vmlinux; run.sh will boot the bzImage"
        touch "$CACHE/vmlinux-$KVER.failed"
    }
fi

# --------------------------------------------------------------- initramfs
# Wanted modules, in load order; their dependencies (modules.dep) are added
# before them. Modules that are built in (modules.builtin) or absent are skipped.
WANT_MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
              netfs fscache 9pnet 9pnet_virtio 9p hid uhid hid-generic virtio-rng)

INITRD=$CACHE/initramfs-$KVER.cpio.gz
stamp_src=$(cat "$VM_DIR/init" "$0" | sha256sum | cut -c1-16)
if [ ! -s "$INITRD" ] || [ "$(cat "$INITRD.stamp" 2>/dev/null)" != "$stamp_src" ]; then
    log "building initramfs"
    stage=$CACHE/initramfs.stage
    rm -rf "$stage"
    mkdir -p "$stage"/{bin,dev,proc,sys,newroot,lib/modules}
    cp "$(command -v busybox)" "$stage/bin/busybox"
    # The .deb ships no modules.dep (depmod makes it at install time), so
    # dependencies come from each module's own .modinfo "depends=" string.
    declare -A mod_path=()
    while IFS= read -r rel; do
        n=${rel##*/}; n=${n%%.ko*}; n=${n//-/_}
        mod_path[$n]=$rel
    done < <(cd "$MODDIR" && find kernel -name '*.ko*' | LC_ALL=C sort)
    file_of() { local n=${1//-/_}; echo "${mod_path[$n]:-}"; }
    is_builtin() {
        local n=${1//-/_} alt=${1//_/-}
        grep -qE "/(${n}|${alt})\.ko$" "$MODDIR/modules.builtin" 2>/dev/null
    }
    mod_cat() {
        case $1 in
            *.xz) xz -dc "$1" ;; *.zst) zstd -dcq "$1" ;; *.gz) gzip -dc "$1" ;; *) cat "$1" ;;
        esac
    }
    declare -A seen=()
    order=()
    add_module() {  # $1 = path relative to MODDIR
        local rel=$1 dep deps
        [ -n "${seen[$rel]:-}" ] && return 0
        seen[$rel]=1
        deps=$(mod_cat "$MODDIR/$rel" | LC_ALL=C grep -aoE 'depends=[^[:cntrl:]]*' | head -n1 | cut -d= -f2)
        for dep in ${deps//,/ }; do
            if [ -n "$(file_of "$dep")" ]; then
                add_module "$(file_of "$dep")"
            elif ! is_builtin "$dep"; then
                die "module $rel depends on $dep, which is neither a module nor built in"
            fi
        done
        order+=("$rel")
    }
    for m in "${WANT_MODULES[@]}"; do
        rel=$(file_of "$m")
        if [ -n "$rel" ]; then
            add_module "$rel"
        elif is_builtin "$m"; then
            log "  $m: built in"
        else
            log "  $m: not in this kernel, skipped"
        fi
    done
    : > "$stage/lib/modules/load-order"
    for rel in "${order[@]}"; do
        base=${rel##*/}
        case $base in
            *.ko.xz)  xz -dc "$MODDIR/$rel" > "$stage/lib/modules/${base%.xz}"; base=${base%.xz} ;;
            *.ko.zst) zstd -dcq "$MODDIR/$rel" > "$stage/lib/modules/${base%.zst}"; base=${base%.zst} ;;
            *.ko.gz)  gzip -dc "$MODDIR/$rel" > "$stage/lib/modules/${base%.gz}"; base=${base%.gz} ;;
            *)        cp "$MODDIR/$rel" "$stage/lib/modules/$base" ;;
        esac
        echo "$base" >> "$stage/lib/modules/load-order"
    done
    log "  modules: $(tr '\n' ' ' < "$stage/lib/modules/load-order")"
    install -m 0755 "$VM_DIR/init" "$stage/init"
    (cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 > "$INITRD.tmp"
    mv "$INITRD.tmp" "$INITRD"
    echo "$stamp_src" > "$INITRD.stamp"
    rm -rf "$stage"
fi

# The file run.sh reads to find what to boot.
{
    echo "KVER=$KVER"
    echo "VMLINUZ=$VMLINUZ"
    if [ -s "$CACHE/vmlinux-$KVER" ]; then echo "VMLINUX=$CACHE/vmlinux-$KVER"; else echo "VMLINUX="; fi
    echo "INITRD=$INITRD"
} > "$CACHE/boot.env"

# ------------------------------------------------------------ python venv
if ! "$REPO/.venv/bin/python" -c 'import fido2' 2>/dev/null; then
    log "creating .venv with fido2==2.2.1"
    [ -x "$REPO/.venv/bin/python" ] || T 300 python3 -m venv "$REPO/.venv"
    T 600 "$REPO/.venv/bin/pip" install -q fido2==2.2.1
fi

# ------------------------------------------------------------ browser rigs
# tests/rigs/ (docs/recipes/playwright.md, selenium.md). npm ci again when
# the lock file is newer than the installed tree.
RIGS=$REPO/tests/rigs
if [ ! -d "$RIGS/node_modules" ] ||
    [ "$RIGS/package-lock.json" -nt "$RIGS/node_modules/.package-lock.json" ]; then
    command -v npm >/dev/null || die "npm is missing: tests/rigs needs Node.js 20 or newer with npm"
    log "npm ci in tests/rigs"
    (cd "$RIGS" && T 600 npm ci --no-audit --no-fund >/dev/null)
fi
if ! "$REPO/.venv/bin/python" -c 'import selenium' 2>/dev/null; then
    log "installing tests/rigs/requirements.txt into .venv"
    T 600 "$REPO/.venv/bin/pip" install -q -r "$RIGS/requirements.txt"
fi
GECKODRIVER_VERSION=0.37.1
if [ "$("$CACHE/geckodriver/bin/geckodriver" --version 2>/dev/null | head -n1 | cut -d' ' -f2)" != "$GECKODRIVER_VERSION" ]; then
    CARGO=$(command -v cargo || echo "$HOME/.cargo/bin/cargo")
    [ -x "$CARGO" ] || die "cargo is missing: geckodriver is built from crates.io"
    log "building geckodriver $GECKODRIVER_VERSION from crates.io (a few minutes, once)"
    T 1800 "$CARGO" install -q --locked geckodriver --version "$GECKODRIVER_VERSION" \
        --root "$CACHE/geckodriver" --target-dir "$CACHE/geckodriver/build" >/dev/null
    rm -rf "$CACHE/geckodriver/build"
fi

log "ready: kernel $KVER, $(if [ -s "$CACHE/vmlinux-$KVER" ]; then echo "PVH vmlinux"; else echo bzImage; fi), $INITRD"
