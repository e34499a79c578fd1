//! Links the system bcg729 found through pkg-config (Debian `libbcg729-dev`).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // 1.1.1 is the release whose headers (decoder.h, encoder.h) these declarations copy.
    if let Err(error) = pkg_config::Config::new()
        .atleast_version("1.1.1")
        .probe("libbcg729")
    {
        panic!(
            "bcg729 not found through pkg-config ({error}); install libbcg729-dev \
             (scripts/setup.sh does)"
        );
    }
}
