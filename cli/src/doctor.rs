//! `fidosim doctor`: checks what a virtual key needs on this machine, one
//! line each with the fix, as text or `--json`.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// One check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pass,
    Fail,
    /// Worth knowing; not an error.
    Note,
}

struct Check {
    name: &'static str,
    status: Status,
    detail: String,
    fix: Option<String>,
}

fn check(
    name: &'static str,
    status: Status,
    detail: impl Into<String>,
    fix: Option<&str>,
) -> Check {
    Check {
        name,
        status,
        detail: detail.into(),
        fix: fix.map(str::to_owned),
    }
}

fn uhid_module() -> bool {
    Path::new("/sys/module/uhid").exists()
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Whether the running kernel ships uhid as a module or built in.
fn uhid_available() -> bool {
    let release = kernel_release();
    uhid_module()
        || Path::new(&format!(
            "/lib/modules/{release}/kernel/drivers/hid/uhid.ko"
        ))
        .exists()
        || Path::new(&format!(
            "/lib/modules/{release}/kernel/drivers/hid/uhid.ko.xz"
        ))
        .exists()
        || Path::new(&format!(
            "/lib/modules/{release}/kernel/drivers/hid/uhid.ko.zst"
        ))
        .exists()
        || std::fs::read_to_string(format!("/lib/modules/{release}/modules.builtin"))
            .is_ok_and(|b| b.contains("uhid.ko"))
}

fn can_open_rw(path: &Path) -> Result<(), std::io::Error> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map(|_| ())
}

/// A hidraw node whose device is a fidosim key: (node, HID_ID, report
/// descriptor starts with the FIDO usage page 0xF1D0).
fn fidosim_hidraw(vid_pid: &str) -> Vec<(PathBuf, String, bool)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/sys/class/hidraw") else {
        return out;
    };
    for entry in dir.flatten() {
        let dev = entry.path().join("device");
        let uevent = std::fs::read_to_string(dev.join("uevent")).unwrap_or_default();
        let Some(hid_id) = uevent
            .lines()
            .find_map(|l| l.strip_prefix("HID_ID="))
            .map(str::to_owned)
        else {
            continue;
        };
        if !hid_id.to_ascii_uppercase().ends_with(vid_pid) {
            continue;
        }
        let descriptor = std::fs::read(dev.join("report_descriptor")).unwrap_or_default();
        // Usage Page (0x06) 0xF1D0, little-endian: 06 d0 f1 (FIDO, CTAP 2.1 §11.2.8.1).
        let fido = descriptor.windows(3).any(|w| w == [0x06, 0xd0, 0xf1]);
        out.push((Path::new("/dev").join(entry.file_name()), hid_id, fido));
    }
    out
}

/// The file system type of `/`.
fn root_fs_type() -> Option<String> {
    std::fs::read_to_string("/proc/self/mounts")
        .ok()?
        .lines()
        .rev()
        .find_map(|l| {
            let mut f = l.split_whitespace();
            let (_, mount, kind) = (f.next()?, f.next()?, f.next()?);
            (mount == "/").then(|| kind.to_owned())
        })
}

fn in_container() -> Option<&'static str> {
    // /.dockerenv alone can be a file seen through a shared root (a VM
    // booted on the host's tree); a Docker root is an overlay.
    if Path::new("/.dockerenv").exists() && root_fs_type().as_deref() == Some("overlay") {
        return Some("Docker");
    }
    if Path::new("/run/.containerenv").exists() {
        return Some("Podman");
    }
    let cgroup = std::fs::read_to_string("/proc/1/cgroup").unwrap_or_default();
    ["docker", "kubepods", "containerd", "lxc"]
        .into_iter()
        .find(|m| cgroup.contains(m))
}

fn checks(vid_pid: &str, socket: &Path) -> Vec<Check> {
    let mut out = Vec::new();
    // Kernel uhid (the virtual USB HID device).
    let dev_uhid = Path::new("/dev/uhid");
    if dev_uhid.exists() {
        out.push(check("kernel uhid", Status::Pass, "/dev/uhid exists", None));
        match can_open_rw(dev_uhid) {
            Ok(()) => out.push(check("uhid access", Status::Pass, "this user can open /dev/uhid", None)),
            Err(e) => out.push(check(
                "uhid access",
                Status::Fail,
                format!("cannot open /dev/uhid: {}", crate::run::io_reason(&e)),
                Some("run `sudo fidosim run`, or install dist/udev/70-fidosim.rules and join the fidosim group (see docs/uhid.md)"),
            )),
        }
    } else if uhid_available() {
        out.push(check(
            "kernel uhid",
            Status::Fail,
            format!("kernel {} has uhid, but it is not loaded", kernel_release()),
            Some("sudo modprobe uhid (and `echo uhid | sudo tee /etc/modules-load.d/fidosim.conf` to load it at boot)"),
        ));
    } else {
        out.push(check(
            "kernel uhid",
            Status::Fail,
            format!("kernel {} has no uhid (CONFIG_UHID)", kernel_release()),
            Some("use a kernel with CONFIG_UHID (stock Debian/Ubuntu kernels have it), run the key in a VM (tests/vm), or use `fidosim run --transport udp` with clients that support it"),
        ));
    }
    // udev rules.
    let rules = [
        "/etc/udev/rules.d/70-fidosim.rules",
        "/lib/udev/rules.d/70-fidosim.rules",
        "/usr/lib/udev/rules.d/70-fidosim.rules",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists());
    out.push(match rules {
        Some(p) => check("udev rules", Status::Pass, format!("{p} is installed"), None),
        None => check(
            "udev rules",
            Status::Note,
            "70-fidosim.rules is not installed: only root can create keys, and only root may open their hidraw nodes",
            Some("sudo install -m 0644 dist/udev/70-fidosim.rules /etc/udev/rules.d/ && sudo udevadm control --reload"),
        ),
    });
    // A running key's hidraw node.
    let nodes = fidosim_hidraw(vid_pid);
    if nodes.is_empty() {
        out.push(check(
            "hidraw node",
            Status::Note,
            "no hidraw device with fidosim's VID:PID 1209:0001 (no key is plugged in)",
            Some("start one: sudo fidosim run"),
        ));
    }
    for (node, hid_id, fido) in nodes {
        let usb = hid_id.starts_with("0003:");
        out.push(check(
            "hidraw node",
            if usb && fido { Status::Pass } else { Status::Fail },
            format!(
                "{} (HID_ID {hid_id}): bus {}, FIDO usage page {}: browsers, libfido2 and OpenSSH {} see it",
                node.display(),
                if usb { "USB" } else { "not USB" },
                if fido { "0xF1D0" } else { "missing" },
                if usb && fido { "can" } else { "cannot" }
            ),
            (!usb || !fido).then_some("this is not a key fidosim made with its defaults; check --vid/--pid"),
        ));
        match can_open_rw(&node) {
            Ok(()) => out.push(check("hidraw access", Status::Pass, format!("this user can open {}", node.display()), None)),
            Err(e) => out.push(check(
                "hidraw access",
                Status::Fail,
                format!("this user cannot open {}: {}; a browser run by this user will not see the key", node.display(), crate::run::io_reason(&e)),
                Some("install dist/udev/70-fidosim.rules (uaccess for the logged-in user, the fidosim group for CI users)"),
            )),
        }
    }
    // The daemon and its control socket.
    match std::os::unix::net::UnixStream::connect(socket) {
        Ok(_) => out.push(check(
            "control socket",
            Status::Pass,
            format!("a fidosim daemon answers on {}", socket.display()),
            None,
        )),
        Err(e) => out.push(check(
            "control socket",
            Status::Note,
            format!("no daemon on {} ({})", socket.display(), crate::run::io_reason(&e)),
            Some("start `fidosim run`; a daemon run with sudo uses /tmp/fidosim-0/control.sock (pass it with --socket)"),
        )),
    }
    // Confined browsers cannot open hidraw without an interface.
    let snaps: Vec<&str> = ["chromium", "firefox"]
        .into_iter()
        .filter(|b| Path::new(&format!("/snap/bin/{b}")).exists())
        .collect();
    if !snaps.is_empty() {
        out.push(check(
            "snap browsers",
            Status::Note,
            format!("{} installed as snap(s): confined, they reach hidraw only through the u2f-devices interface, which matches real keys' VID:PIDs", snaps.join(", ")),
            Some("use a .deb build of the browser (Debian's chromium/firefox-esr), or start the key with a --vid/--pid the interface allows"),
        ));
    }
    let flatpaks: Vec<&str> = [
        "org.chromium.Chromium",
        "org.mozilla.firefox",
        "com.google.Chrome",
    ]
    .into_iter()
    .filter(|a| {
        Path::new(&format!("/var/lib/flatpak/app/{a}")).exists()
            || std::env::var_os("HOME").is_some_and(|h| {
                Path::new(&h)
                    .join(format!(".local/share/flatpak/app/{a}"))
                    .exists()
            })
    })
    .collect();
    if !flatpaks.is_empty() {
        out.push(check(
            "flatpak browsers",
            Status::Note,
            format!(
                "{} installed as flatpak(s): sandboxed, they see hidraw only with device access",
                flatpaks.join(", ")
            ),
            Some("flatpak override --user --device=all <app>"),
        ));
    }
    if let Some(kind) = in_container() {
        out.push(check(
            "container",
            Status::Note,
            format!("running in a {kind} container: /dev/uhid and the hidraw nodes belong to the host"),
            Some("pass the devices in (--device /dev/uhid, and the hidraw nodes or --privileged), or run fidosim on the host"),
        ));
    }
    out
}

/// Prints the checks; `false` when one failed.
pub(crate) fn run(json_out: bool, socket: Option<std::path::PathBuf>) -> bool {
    let socket = socket.unwrap_or_else(fidosim_daemon::api::default_socket);
    let list = checks("00001209:00000001", &socket);
    let failed = list.iter().any(|c| c.status == Status::Fail);
    if json_out {
        let v: Vec<Value> = list
            .iter()
            .map(|c| {
                json!({
                    "check": c.name,
                    "status": match c.status { Status::Pass => "pass", Status::Fail => "fail", Status::Note => "note" },
                    "detail": c.detail,
                    "fix": c.fix,
                })
            })
            .collect();
        out!(
            "{}",
            serde_json::to_string_pretty(&json!({ "ok": !failed, "checks": v }))
                .unwrap_or_default()
        );
    } else {
        for c in &list {
            let tag = match c.status {
                Status::Pass => "pass",
                Status::Fail => "FAIL",
                Status::Note => "note",
            };
            out!("[{tag}] {}: {}", c.name, c.detail);
            if let Some(fix) = &c.fix {
                out!("       fix: {fix}");
            }
        }
    }
    !failed
}
