//! The Debian package an operator installs: `cargo deb` builds it, it is
//! unpacked into a root directory (`dpkg-deb -x`, as `dpkg -i` would lay it
//! out, without touching this machine), and what it holds is checked: the
//! binary runs `check-config` on the packaged configuration, the systemd
//! unit passes `systemd-analyze verify` and carries its limits and
//! hardening, the configuration is conffiles, and the postinst creates the
//! user and an owner-only state directory but never a key.
//!
//! `cargo deb` packages the binary these tests were built with (`--no-build
//! --profile dev`, with fast compression) rather than compiling a release build a
//! second time; operators run plain `cargo deb`, which builds the release
//! binary into the same layout.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{command:?}: {error}"));
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The package, unpacked: files under `root/`, control files under `control/`.
struct Unpacked {
    _dir: tempfile::TempDir,
    root: PathBuf,
    control: PathBuf,
}

fn build_and_unpack() -> Unpacked {
    let dir = tempfile::tempdir().unwrap();
    let deb = dir.path().join("greffier.deb");
    let version = Command::new("cargo").args(["deb", "--version"]).output();
    assert!(
        version.is_ok_and(|output| output.status.success()),
        "cargo-deb is not installed: scripts/setup.sh installs it"
    );
    // The binary the tests run is the one packaged: make sure it is where
    // cargo-deb looks (the target directory of this build).
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_greffier"));
    let target_dir = binary
        .parent()
        .and_then(Path::parent)
        .expect("target/debug/greffier");
    run(Command::new("cargo")
        .current_dir(repository())
        .env("CARGO_TARGET_DIR", target_dir)
        .args([
            "deb",
            "-p",
            "greffier",
            "--no-build",
            "--profile",
            "dev",
            "--no-strip",
        ])
        .arg("--output")
        .arg(&deb));
    let root = dir.path().join("root");
    let control = dir.path().join("control");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
    run(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&control));
    Unpacked {
        _dir: dir,
        root,
        control,
    }
}

fn text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

#[test]
fn the_package_installs_a_service_that_checks_its_packaged_configuration() {
    let package = build_and_unpack();
    let root = &package.root;

    // The binary and its configuration: check-config accepts what is packaged.
    let binary = root.join("usr/bin/greffier");
    let config = root.join("etc/greffier/greffier.toml");
    let checked = run(Command::new(&binary)
        .args(["check-config", "--config"])
        .arg(&config));
    let said = String::from_utf8_lossy(&checked.stdout);
    assert!(said.contains("greffier.toml: ok (0 tenants)"), "{said}");

    // The configuration is the operator's: conffiles, never overwritten.
    let conffiles = text(&package.control.join("conffiles"));
    for file in [
        "/etc/greffier/greffier.toml",
        "/etc/greffier/tenants/README",
    ] {
        assert!(conffiles.lines().any(|line| line == file), "{conffiles}");
    }
    let control = text(&package.control.join("control"));
    assert!(control.contains("Depends: adduser"), "{control}");
    assert!(control.contains("libbcg729"), "{control}");

    // The unit: limits, user, state directory, hardening; installed disabled.
    let unit_path = root.join("usr/lib/systemd/system/greffier.service");
    let unit = text(&unit_path);
    for line in [
        "User=greffier",
        "StateDirectory=greffier",
        "StateDirectoryMode=0700",
        "LimitNOFILE=65536",
        "ProtectSystem=strict",
        "NoNewPrivileges=true",
        "CapabilityBoundingSet=\n",
        "LoadCredential=master.key:/etc/greffier/master.key",
        "ExecStart=/usr/bin/greffier run --config /etc/greffier/greffier.toml",
    ] {
        assert!(unit.contains(line), "the unit lacks {line:?}");
    }
    // Installed, not started: there is no master key yet.
    let postinst = text(&package.control.join("postinst"));
    assert!(!postinst.contains("deb-systemd-invoke start"), "{postinst}");

    // systemd's own check of the unit, with its binary where it is unpacked.
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok()
    {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("greffier.service");
        std::fs::write(
            &copy,
            unit.replace("/usr/bin/greffier", &binary.display().to_string()),
        )
        .unwrap();
        let verified = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&copy)
            .output()
            .unwrap();
        let complaints = String::from_utf8_lossy(&verified.stderr).into_owned()
            + &String::from_utf8_lossy(&verified.stdout);
        assert!(
            verified.status.success() && complaints.trim().is_empty(),
            "systemd-analyze verify:\n{complaints}"
        );
    }

    // The postinst: a system user and an owner-only state directory, and
    // never a master key or a keyring.
    run(Command::new("sh")
        .arg("-n")
        .arg(package.control.join("postinst")));
    assert!(postinst.contains("adduser --system"), "{postinst}");
    assert!(
        postinst.contains("install -d -o greffier -g greffier -m 0700 /var/lib/greffier"),
        "{postinst}"
    );
    for never in ["generate-master", "keys init", "urandom", "openssl"] {
        assert!(
            !postinst.contains(never),
            "the postinst makes a key ({never})"
        );
    }
}
