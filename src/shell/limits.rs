//! Bounds on the buffers that input can grow, so no script, stream or file makes the shell
//! allocate without limit: past each one the shell reports a clear error instead.

/// Most bytes a command substitution may produce (256 MiB); past it the expansion fails with
/// `command substitution output exceeds N bytes` and the substituted command is killed.
pub const MAX_SUBST_OUTPUT: usize = 256 << 20;

/// Most characters of input the parser holds for one command (64 Mi, 256 MiB buffered);
/// past it parsing fails with `command exceeds N characters`.
pub const MAX_COMMAND: usize = 64 << 20;

/// Most bytes a here-document body may hold (32 MiB); past it parsing fails.
pub const MAX_HEREDOC: usize = 32 << 20;

/// Longest line `read` accepts (1 MiB); past it the rest of the line is discarded and `read`
/// fails with status 2.
pub const MAX_READ_LINE: usize = 1 << 20;

/// Largest history file loaded at start (16 MiB); a larger one is left alone, with a warning.
pub const MAX_HISTORY_FILE: u64 = 16 << 20;

/// Longest history line kept (64 KiB); longer lines in the history file are skipped.
pub const MAX_HISTORY_LINE: usize = 64 << 10;

/// Most entries the `history` builtin keeps in memory (the oldest are dropped).
pub const MAX_HISTORY_ENTRIES: usize = 10_000;

/// Most bytes of each stream [`crate::shell::Shell::run_captured`] hands back (16 MiB).
pub const MAX_CAPTURE: usize = 16 << 20;
