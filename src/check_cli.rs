//! `wirelab check FILE`: the linearizability checker from the command line.
//!
//! Exit status: 0 linearizable, 1 not linearizable, 2 an error or an unknown verdict (the time
//! budget ran out).

use std::str::FromStr;
use std::time::Duration;

use crate::check::{self, Format, Verdict};
use crate::cli::CheckArgs;

/// Runs the checker and returns the exit code.
pub fn run(args: CheckArgs) -> i32 {
    let format = match Format::from_str(&args.format) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("wirelab check: {e}");
            return 2;
        }
    };
    let budget = match args.timeout {
        Some(s) if s.is_finite() && s > 0.0 => Some(Duration::from_secs_f64(s.min(1e6))),
        Some(_) => {
            eprintln!("wirelab check: --timeout must be a positive number of seconds");
            return 2;
        }
        None => None,
    };
    match check::check_file(&args.file, format, budget) {
        Ok(report) => {
            if args.json {
                match serde_json::to_string(&report) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("wirelab check: {e}");
                        return 2;
                    }
                }
            } else {
                println!("{report}");
            }
            match report.verdict {
                Verdict::Linearizable => 0,
                Verdict::NotLinearizable => 1,
                Verdict::Unknown => 2,
            }
        }
        Err(e) => {
            eprintln!("wirelab check: {e}");
            2
        }
    }
}
