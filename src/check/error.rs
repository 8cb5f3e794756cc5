//! The checker's error type: everything that stops a check before it reaches a verdict.
//!
//! A history that is merely not linearizable is not an error (that is a
//! [`Verdict`](super::Verdict)); these are unreadable files, malformed lines and event sequences
//! that do not describe a history at all. Line numbers are 1-based, as an editor shows them.

use std::io;
use std::path::PathBuf;

/// Why a history could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The history file could not be opened.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The file we tried to open.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// Reading failed part-way through.
    #[error("read error after line {line}: {source}")]
    Read {
        /// The last line read successfully.
        line: usize,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// A line is not a well-formed event of the chosen format.
    #[error("line {line}: {reason}")]
    Parse {
        /// The offending line.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The events are well-formed one by one but do not form a history, e.g. a client that
    /// completes an operation it never invoked.
    #[error("line {line}: inconsistent history: {reason}")]
    Inconsistent {
        /// The event that broke the rules.
        line: usize,
        /// Which rule.
        reason: String,
    },
    /// The file has content, but not one operation of the chosen format: the wrong `--format`,
    /// most likely. Never a verdict: an empty history is trivially linearizable.
    #[error("{path}: no operations found: is the format right? (read as {format})")]
    NoOperations {
        /// The file.
        path: PathBuf,
        /// The format it was read as.
        format: &'static str,
    },
    /// The history uses an operation the chosen model does not define.
    #[error("line {line}: operation `{op}` is not supported by the {model} model")]
    Unsupported {
        /// The invocation of the operation.
        line: usize,
        /// The operation's name.
        op: &'static str,
        /// The model's name.
        model: &'static str,
    },
}
