//! Bytes on the wire: the framing every wirelab protocol shares.
//!
//! - [`frame`]: length-prefixed frames (`u32` big-endian length, then the payload), read and
//!   written over any tokio stream. A frame longer than the reader's limit is an error before any
//!   allocation, and reads survive partial TCP reads.
//! - [`codec`]: a small bounded binary encoder/decoder used to build frame payloads.
//! - [`fault`]: the fault filter: per-node rules that drop frames to or from given peers
//!   (a partition), drop a fraction of frames, or delay them.
//! - [`pki`]: a run's own certificate authority and mutual TLS between its members and clients.

pub mod codec;
pub mod fault;
pub mod frame;
pub mod pki;

pub use codec::{DecodeError, Decoder, Encoder};
pub use fault::{FaultFilter, FaultRules};
pub use frame::{FrameError, MAX_FRAME, read_frame, write_frame};
