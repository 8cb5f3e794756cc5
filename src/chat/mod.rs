//! Secure multi-client chat: the portfolio's "secure multi-client communication", as wirelab
//! implements it.
//!
//! What is here today is the protocol core the lab is built on, wirelab's own implementation
//! of the Noise Protocol Framework (revision 34):
//! - [`noise`]: `Noise_NNpsk0_25519_ChaChaPoly_SHA256` (and the KKpsk0, NN and XX patterns
//!   through the same interpreter), with the client's name bound into the handshake through
//!   the prologue, transport states with `Rekey()`, and bounded messages. Tested against the
//!   cacophony vectors and, over TCP, against Python's `noiseprotocol` in both roles.
//!
//! The lab itself (the server with durable rooms, the client bots, the man-in-the-middle
//! proxy and the dashboard) is not built yet: `chat` is not a registered lab, and the
//! explorer says so.

pub mod noise;
