//! Link options of the `wirelab` executable.
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
    let host = env::var("HOST").unwrap_or_default();
    let target = env::var("TARGET").unwrap_or_default();
    if host != target || !target.ends_with("-linux-gnu") {
        return;
    }
    if glibc_at_least(2, 36) {
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
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
