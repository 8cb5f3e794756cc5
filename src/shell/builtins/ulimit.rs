//! `ulimit`: shows and sets the process's resource limits, with dash's flags, units, output
//! and error messages (`-H` hard, `-S` soft, `-a` all, one letter per resource; the file-size
//! default; `unlimited`; numbers scaled by the resource's unit).

use nix::sys::resource::{Resource, getrlimit, setrlimit};

use crate::shell::state::{Shell, Status};

/// Name → function.
pub const TABLE: &[(&str, super::CoreBuiltin)] = &[("ulimit", ulimit)];

/// One resource: its `-a` label, kind, unit in bytes (or 1) and flag letter, in dash's order.
const LIMITS: &[(&str, Resource, u64, char)] = &[
    ("time(seconds)", Resource::RLIMIT_CPU, 1, 't'),
    ("file(blocks)", Resource::RLIMIT_FSIZE, 512, 'f'),
    ("data(kbytes)", Resource::RLIMIT_DATA, 1024, 'd'),
    ("stack(kbytes)", Resource::RLIMIT_STACK, 1024, 's'),
    ("coredump(blocks)", Resource::RLIMIT_CORE, 512, 'c'),
    ("memory(kbytes)", Resource::RLIMIT_RSS, 1024, 'm'),
    ("locked memory(kbytes)", Resource::RLIMIT_MEMLOCK, 1024, 'l'),
    ("process", Resource::RLIMIT_NPROC, 1, 'p'),
    ("nofiles", Resource::RLIMIT_NOFILE, 1, 'n'),
    ("vmemory(kbytes)", Resource::RLIMIT_AS, 1024, 'v'),
    ("locks", Resource::RLIMIT_LOCKS, 1, 'w'),
    ("rtprio", Resource::RLIMIT_RTPRIO, 1, 'r'),
];

const SOFT: u8 = 1;
const HARD: u8 = 2;

fn shown(v: u64, unit: u64) -> String {
    if v == libc::RLIM_INFINITY {
        "unlimited\n".to_string()
    } else {
        format!("{}\n", v / unit)
    }
}

fn ulimit(sh: &mut Shell, argv: &[String]) -> Status {
    let (mut how, mut all, mut what) = (SOFT | HARD, false, 'f');
    let mut i = 1;
    // Options as dash's nextopt reads them: clustered letters, `--` ends them, `-` is an operand.
    while let Some(arg) = argv.get(i) {
        let Some(letters) = arg.strip_prefix('-').filter(|l| !l.is_empty()) else {
            break;
        };
        i += 1;
        if letters == "-" {
            break;
        }
        for c in letters.chars() {
            match c {
                'H' => how = HARD,
                'S' => how = SOFT,
                'a' => all = true,
                c if LIMITS.iter().any(|l| l.3 == c) => what = c,
                c => return Ok(sh.usage("ulimit", &format!("Illegal option -{c}"))),
            }
        }
    }
    let operands = &argv[i.min(argv.len())..];
    let Some(&(_, res, unit, _)) = LIMITS.iter().find(|l| l.3 == what) else {
        return Ok(2);
    };
    let value = match operands.first() {
        None => None,
        Some(_) if all || operands.len() > 1 => {
            return Ok(sh.usage("ulimit", "too many arguments"));
        }
        Some(v) if v == "unlimited" => Some(libc::RLIM_INFINITY),
        Some(v) => {
            let mut n: u64 = 0;
            for b in v.bytes() {
                if !b.is_ascii_digit() {
                    return Ok(sh.usage("ulimit", "bad number"));
                }
                n = n.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
            }
            Some(n.wrapping_mul(unit))
        }
    };
    if all {
        let mut out = String::new();
        for &(name, r, unit, _) in LIMITS {
            let (soft, hard) = getrlimit(r).unwrap_or((libc::RLIM_INFINITY, libc::RLIM_INFINITY));
            let v = if how & SOFT != 0 { soft } else { hard };
            out.push_str(&format!("{name:<20} {}", shown(v, unit)));
        }
        sh.out(&out);
        return Ok(0);
    }
    let (mut soft, mut hard) = match getrlimit(res) {
        Ok(l) => l,
        Err(e) => return Ok(sh.usage("ulimit", &format!("error getting limit ({})", e.desc()))),
    };
    match value {
        Some(v) => {
            if how & HARD != 0 {
                hard = v;
            }
            if how & SOFT != 0 {
                soft = v;
            }
            if let Err(e) = setrlimit(res, soft, hard) {
                return Ok(sh.usage("ulimit", &format!("error setting limit ({})", e.desc())));
            }
        }
        None => {
            let v = if how & SOFT != 0 { soft } else { hard };
            sh.out(&shown(v, unit));
        }
    }
    Ok(0)
}
