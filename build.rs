//! Build steps of the `wirelab` package: the lab data embedded in the binary, and link options.
//!
//! Lab data: every `labs/NAME/*.sh` scenario script is listed in `$OUT_DIR/scenarios.rs`
//! (`include_str!` of each), so a new script is one new file, not a new line in a hand-kept
//! list; `crate::lab::scenario` includes that file.
//!
//! Packed relative relocations (`-z pack-relative-relocs`, DT_RELR): the executable is a PIE with
//! about 12,000 relative relocations (vtables, string tables). As 24-byte RELA records they make
//! a 290 KB `.rela.dyn` that the dynamic loader reads at every start, in every node process; as
//! RELR bitmaps they take a few KB. Same relocations, same ASLR. It needs glibc 2.36 or newer at
//! run time (the binary then names `GLIBC_ABI_DT_RELR`), so it is only enabled when building on
//! such a glibc for the same target; otherwise the link is the default one.

use std::env;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    embed_scenarios();
    let host = env::var("HOST").unwrap_or_default();
    // Link options below apply to native builds on glibc only.
    let target = env::var("TARGET").unwrap_or_default();
    if host != target || !target.ends_with("-linux-gnu") {
        return;
    }
    if glibc_at_least(2, 36) {
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Writes `$OUT_DIR/scenarios.rs`: `(lab, name, text)` for every `labs/*/*.sh`, sorted by lab
/// then name.
fn embed_scenarios() {
    let root = std::path::PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let labs = root.join("labs");
    println!("cargo::rerun-if-changed={}", labs.display());
    let mut found: Vec<(String, String, std::path::PathBuf)> = Vec::new();
    let mut lab_dirs: Vec<_> = std::fs::read_dir(&labs)
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    lab_dirs.sort();
    for dir in lab_dirs.iter().filter(|d| d.is_dir()) {
        println!("cargo::rerun-if-changed={}", dir.display());
        let lab = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map(|r| r.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        for f in files {
            if f.extension().and_then(|e| e.to_str()) != Some("sh") {
                continue;
            }
            println!("cargo::rerun-if-changed={}", f.display());
            let name = f
                .file_stem()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_string();
            found.push((lab.clone(), name, f));
        }
    }
    let mut out = String::from(
        "/// Every scenario script: (lab, name, text).\npub static SCENARIOS: &[(&str, &str, &str)] = &[\n",
    );
    for (lab, name, path) in found {
        out.push_str(&format!(
            "    ({lab:?}, {name:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    out.push_str("];\n");
    let dest =
        std::path::PathBuf::from(env::var("OUT_DIR").unwrap_or_default()).join("scenarios.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        panic!("cannot write {}: {e}", dest.display());
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn glibc_at_least(major: u32, minor: u32) -> bool {
    unsafe extern "C" {
        fn gnu_get_libc_version() -> *const std::ffi::c_char;
    }
    // SAFETY: gnu_get_libc_version returns a pointer to a static NUL-terminated string.
    let version = unsafe { std::ffi::CStr::from_ptr(gnu_get_libc_version()) };
    let mut parts = version
        .to_str()
        .unwrap_or("")
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    found >= (major, minor)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn glibc_at_least(_major: u32, _minor: u32) -> bool {
    false
}
