//! Thin wrappers over the fd-level system calls the executor needs (dup2, pipes, raw reads and
//! writes). The shell manipulates descriptors by number, as POSIX redirections are defined,
//! so these take and return raw fds.

use std::ffi::CString;
use std::io;

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// `dup2(old, new)`.
pub fn dup2(old: i32, new: i32) -> io::Result<()> {
    // SAFETY: plain syscall on integer fds.
    check(unsafe { libc::dup2(old, new) }).map(|_| ())
}

/// Closes an fd, ignoring errors.
pub fn close(fd: i32) {
    // SAFETY: plain syscall on an integer fd.
    unsafe { libc::close(fd) };
}

/// Duplicates `fd` to a close-on-exec fd numbered 10 or more; `None` if `fd` is not open.
pub fn dup_high(fd: i32) -> Option<i32> {
    // SAFETY: plain syscall on an integer fd.
    let r = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10) };
    (r >= 0).then_some(r)
}

/// True when `fd` is open.
pub fn is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD only queries the fd table.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Clears close-on-exec on an fd (after `dup2` the flag is already clear; this is for `exec 3<f`).
pub fn set_cloexec(fd: i32, on: bool) {
    // SAFETY: F_SETFD only changes the fd's flags.
    unsafe { libc::fcntl(fd, libc::F_SETFD, if on { libc::FD_CLOEXEC } else { 0 }) };
}

/// A close-on-exec pipe: (read end, write end).
pub fn pipe() -> io::Result<(i32, i32)> {
    let mut fds = [0i32; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    Ok((fds[0], fds[1]))
}

/// `open(path, flags, 0666)`.
pub fn open(path: &str, flags: i32) -> io::Result<i32> {
    let c = CString::new(path).map_err(|_| io::Error::from_raw_os_error(libc::ENOENT))?;
    // SAFETY: c is a valid NUL-terminated string.
    check(unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC, 0o666 as libc::c_uint) })
}

/// `read`, retrying on EINTR.
pub fn read(fd: i32, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: buf is valid for buf.len() bytes.
        let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// One `read`, reporting EINTR to the caller (for reads a signal must be able to interrupt).
pub fn read_once(fd: i32, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is valid for buf.len() bytes.
    let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// Writes all of `buf`, retrying on EINTR and short writes.
pub fn write_all(fd: i32, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: buf is valid for buf.len() bytes.
        let r = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        buf = &buf[r as usize..];
    }
    Ok(())
}

/// Reads `fd` to its end, or stops with `Err` holding the first `max` bytes once more than
/// `max` bytes arrive (memory stays bounded whatever the writer does).
pub fn read_to_end_max(fd: i32, max: usize) -> Result<Vec<u8>, Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    while let Ok(n) = read(fd, &mut buf) {
        if n == 0 {
            break;
        }
        if out.len() + n > max {
            let keep = max - out.len();
            out.extend_from_slice(&buf[..keep]);
            return Err(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
    Ok(out)
}

/// Ends the process at once (no destructors, no stdio flush): for forked children.
pub fn exit_now(status: i32) -> ! {
    // SAFETY: _exit is always safe to call.
    unsafe { libc::_exit(status & 0xff) }
}

/// The file-creation mask (read without changing it).
pub fn get_umask() -> u32 {
    // SAFETY: umask cannot fail; it is set back at once.
    unsafe {
        let m = libc::umask(0o022);
        libc::umask(m);
        m as u32
    }
}

/// Sets the file-creation mask.
pub fn set_umask(m: u32) {
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(m as libc::mode_t) };
}

/// A human message for an errno, in dash's short wording for the common cases.
pub fn errno_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ENOENT) => "No such file or directory".into(),
        Some(libc::EACCES) => "Permission denied".into(),
        Some(libc::EISDIR) => "Is a directory".into(),
        Some(libc::EEXIST) => "File exists".into(),
        Some(libc::ENOTDIR) => "Not a directory".into(),
        Some(libc::EBADF) => "Bad file descriptor".into(),
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_string(),
        None => e.to_string(),
    }
}
