//! Length-prefixed frames: `[u32 BE length][payload]`.
//!
//! The length is checked against the caller's limit *before* the payload buffer grows, so a peer
//! that announces a 4 GiB frame costs us four bytes of reading, not four gigabytes of memory;
//! and the buffer then grows with the bytes that actually arrive ([`GROW_STEP`] at a time), so
//! twenty connections that each announce 16 MiB and send one byte cost kilobytes, not 320 MiB.
//! [`read_frame_within`] also bounds the time a started frame may take, and
//! [`read_frame_budgeted`] makes every frame over [`GROW_STEP`] take its size from a
//! process-wide [`FrameBudget`] first, so that many connections each sending a large frame at
//! once wait their turn instead of adding up.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The default largest frame accepted (16 MiB): big enough for a batch of log entries or a
/// snapshot of the lab's state machines, small enough that a garbage length cannot hurt.
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer announced a frame longer than the limit.
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// The stream ended in the middle of a frame.
    #[error("connection closed in the middle of a frame")]
    Truncated,
    /// A frame began but did not finish within the deadline.
    #[error("a frame began but did not finish within {0:?}")]
    Stalled(std::time::Duration),
    /// Any other I/O error.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// How much the payload buffer grows ahead of the bytes received (64 KiB).
pub const GROW_STEP: usize = 64 * 1024;

/// Reads one frame into `buf` (cleared first, reused across calls).
///
/// Returns `Ok(false)` on a clean end of stream before the first byte of a frame.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> Result<bool, FrameError> {
    let mut first = [0u8; 1];
    if reader.read(&mut first).await? == 0 {
        return Ok(false);
    }
    read_rest(reader, first[0], buf, max).await.map(|()| true)
}

/// [`read_frame`], but once a frame has begun (its first byte arrived) the rest must come
/// within `deadline`: a peer that starts a frame and stalls holds a connection for that long
/// at most. Waiting for a frame to begin has no deadline (an idle connection is fine).
pub async fn read_frame_within<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
    deadline: std::time::Duration,
) -> Result<bool, FrameError> {
    let mut first = [0u8; 1];
    if reader.read(&mut first).await? == 0 {
        return Ok(false);
    }
    match tokio::time::timeout(deadline, read_rest(reader, first[0], buf, max)).await {
        Ok(r) => r.map(|()| true),
        Err(_) => Err(FrameError::Stalled(deadline)),
    }
}

/// A budget of bytes for frames being read at once, shared by every connection of a process.
/// Frames up to [`GROW_STEP`] are free (a connection's steady state); a larger one holds its
/// size, rounded up to [`GROW_STEP`]s, from when its header is read until the caller drops
/// the returned [`FramePermit`].
#[derive(Clone, Debug)]
pub struct FrameBudget {
    units: std::sync::Arc<tokio::sync::Semaphore>,
    total: usize,
}

/// A large frame's share of a [`FrameBudget`]; dropping it gives the bytes back.
#[derive(Debug)]
pub struct FramePermit(#[allow(dead_code)] tokio::sync::OwnedSemaphorePermit);

impl FrameBudget {
    /// A budget of `bytes` (rounded down to [`GROW_STEP`]s; at least one).
    pub fn new(bytes: usize) -> Self {
        let total = (bytes / GROW_STEP).max(1);
        Self {
            units: std::sync::Arc::new(tokio::sync::Semaphore::new(total)),
            total,
        }
    }

    /// Bytes of the budget not held by a frame right now.
    pub fn available(&self) -> usize {
        self.units.available_permits() * GROW_STEP
    }

    async fn take(&self, len: usize) -> Result<Option<FramePermit>, FrameError> {
        if len <= GROW_STEP {
            return Ok(None);
        }
        let units = len.div_ceil(GROW_STEP);
        if units > self.total {
            return Err(FrameError::TooLarge {
                len,
                max: self.total * GROW_STEP,
            });
        }
        let n = u32::try_from(units).map_err(|_| FrameError::TooLarge {
            len,
            max: self.total * GROW_STEP,
        })?;
        let permit = self
            .units
            .clone()
            .acquire_many_owned(n)
            .await
            .map_err(|_| io::Error::other("frame budget closed"))?;
        Ok(Some(FramePermit(permit)))
    }
}

/// [`read_frame_within`], with a frame over [`GROW_STEP`] first taking its size from `budget`
/// (waiting for it within the same deadline). Returns `None` at a clean end of stream, else
/// the frame's permit (`Some(None)` for a small frame); keep it while the frame's bytes are in
/// use. After a large frame the caller should give the buffer's memory back (it is sized to
/// that frame).
pub async fn read_frame_budgeted<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
    deadline: std::time::Duration,
    budget: &FrameBudget,
) -> Result<Option<Option<FramePermit>>, FrameError> {
    let mut first = [0u8; 1];
    if reader.read(&mut first).await? == 0 {
        return Ok(None);
    }
    let read = async {
        let len = read_len(reader, first[0], max).await?;
        let permit = budget.take(len).await?;
        read_body(reader, len, buf).await?;
        Ok::<_, FrameError>(permit)
    };
    match tokio::time::timeout(deadline, read).await {
        Ok(r) => r.map(Some),
        Err(_) => Err(FrameError::Stalled(deadline)),
    }
}

/// The rest of a frame whose first header byte is `first`.
async fn read_rest<R: AsyncRead + Unpin>(
    reader: &mut R,
    first: u8,
    buf: &mut Vec<u8>,
    max: usize,
) -> Result<(), FrameError> {
    let len = read_len(reader, first, max).await?;
    read_body(reader, len, buf).await
}

/// The rest of a frame header whose first byte is `first`: the checked length.
async fn read_len<R: AsyncRead + Unpin>(
    reader: &mut R,
    first: u8,
    max: usize,
) -> Result<usize, FrameError> {
    let mut header = [first, 0, 0, 0];
    let mut got = 1;
    while got < header.len() {
        let n = reader.read(&mut header[got..]).await?;
        if n == 0 {
            return Err(FrameError::Truncated);
        }
        got += n;
    }
    let len = u32::from_be_bytes(header) as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    Ok(len)
}

/// A payload of `len` bytes into `buf`, growing it with what arrives.
async fn read_body<R: AsyncRead + Unpin>(
    reader: &mut R,
    len: usize,
    buf: &mut Vec<u8>,
) -> Result<(), FrameError> {
    buf.clear();
    // Grow with what arrives, never ahead of it by more than one step.
    while buf.len() < len {
        let start = buf.len();
        let end = len.min(start + GROW_STEP);
        buf.resize(end, 0);
        match reader.read_exact(&mut buf[start..end]).await {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(FrameError::Truncated);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Appends the frame header and `payload` to `out` (for batching several frames in one write).
pub fn encode_frame(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

/// Writes one frame (header and payload in a single write call where possible).
pub async fn write_frame<W: AsyncWrite + Unpin>(writer: &mut W, payload: &[u8]) -> io::Result<()> {
    if payload.len() > u32::MAX as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "frame payload exceeds u32::MAX bytes",
        ));
    }
    let mut out = Vec::with_capacity(4 + payload.len());
    encode_frame(payload, &mut out);
    writer.write_all(&out).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn frames_survive_one_byte_reads() {
        let (mut a, mut b) = tokio::io::duplex(1);
        let writer = tokio::spawn(async move {
            write_frame(&mut a, b"hello").await.unwrap();
            write_frame(&mut a, b"").await.unwrap();
            write_frame(&mut a, &[7u8; 300]).await.unwrap();
        });
        let mut buf = Vec::new();
        assert!(read_frame(&mut b, &mut buf, 1024).await.unwrap());
        assert_eq!(buf, b"hello");
        assert!(read_frame(&mut b, &mut buf, 1024).await.unwrap());
        assert!(buf.is_empty());
        assert!(read_frame(&mut b, &mut buf, 1024).await.unwrap());
        assert_eq!(buf, vec![7u8; 300]);
        writer.await.unwrap();
        assert!(!read_frame(&mut b, &mut buf, 1024).await.unwrap());
    }

    #[tokio::test]
    async fn oversized_frame_is_an_error_not_an_allocation() {
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
        let mut buf = Vec::new();
        let err = read_frame(&mut b, &mut buf, MAX_FRAME).await.unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { .. }), "{err}");
        assert!(buf.capacity() < 1024);
    }

    #[tokio::test]
    async fn stream_ending_mid_frame_is_truncated() {
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&[0, 0, 0, 10, 1, 2]).await.unwrap();
        drop(a);
        let mut buf = Vec::new();
        let err = read_frame(&mut b, &mut buf, 100).await.unwrap_err();
        assert!(matches!(err, FrameError::Truncated), "{err}");
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&[0, 0]).await.unwrap();
        drop(a);
        let err = read_frame(&mut b, &mut buf, 100).await.unwrap_err();
        assert!(matches!(err, FrameError::Truncated), "{err}");
    }

    #[tokio::test]
    async fn a_started_frame_that_stalls_times_out_and_an_idle_one_does_not() {
        let (mut tx, mut rx) = tokio::io::duplex(64);
        let mut buf = Vec::new();
        // Idle: nothing sent; the read is still pending after the deadline.
        let idle = tokio::time::timeout(
            std::time::Duration::from_millis(100),
            read_frame_within(&mut rx, &mut buf, 100, std::time::Duration::from_millis(20)),
        )
        .await;
        assert!(idle.is_err(), "an idle connection has no deadline");
        // Started: header and one byte of a 10-byte payload, then nothing.
        tx.write_all(&[0, 0, 0, 10, 1])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let r =
            read_frame_within(&mut rx, &mut buf, 100, std::time::Duration::from_millis(50)).await;
        assert!(matches!(r, Err(FrameError::Stalled(_))), "{r:?}");
    }

    #[tokio::test]
    async fn large_frames_wait_for_the_budget_and_small_ones_do_not() {
        use std::time::Duration;
        let budget = FrameBudget::new(4 * GROW_STEP);
        let big = 3 * GROW_STEP;
        let mut frame = Vec::new();
        encode_frame(&vec![1u8; big], &mut frame);
        // The first large frame takes three quarters of the budget while it is held.
        let (mut a, mut b) = tokio::io::duplex(1 << 20);
        a.write_all(&frame).await.unwrap();
        let mut buf = Vec::new();
        let held =
            read_frame_budgeted(&mut b, &mut buf, MAX_FRAME, Duration::from_secs(5), &budget)
                .await
                .unwrap()
                .expect("a frame");
        assert!(held.is_some());
        assert_eq!(budget.available(), GROW_STEP);
        // A second one must wait: within its deadline it cannot start, so it stalls.
        let (mut c, mut d) = tokio::io::duplex(1 << 20);
        c.write_all(&frame).await.unwrap();
        let mut buf2 = Vec::new();
        let r = read_frame_budgeted(
            &mut d,
            &mut buf2,
            MAX_FRAME,
            Duration::from_millis(100),
            &budget,
        )
        .await;
        assert!(matches!(r, Err(FrameError::Stalled(_))), "{r:?}");
        assert!(
            buf2.capacity() < GROW_STEP,
            "it read nothing past the header"
        );
        // A small frame is never held up.
        let (mut e, mut f) = tokio::io::duplex(1 << 20);
        write_frame(&mut e, b"small").await.unwrap();
        let small = read_frame_budgeted(
            &mut f,
            &mut buf2,
            MAX_FRAME,
            Duration::from_millis(100),
            &budget,
        )
        .await
        .unwrap()
        .expect("a frame");
        assert!(small.is_none());
        // Once the first is released, a large frame goes through.
        drop(held);
        assert_eq!(budget.available(), 4 * GROW_STEP);
        let (mut g, mut h) = tokio::io::duplex(1 << 20);
        g.write_all(&frame).await.unwrap();
        let r = read_frame_budgeted(
            &mut h,
            &mut buf2,
            MAX_FRAME,
            Duration::from_secs(5),
            &budget,
        )
        .await
        .unwrap();
        assert!(matches!(r, Some(Some(_))));
        // A frame larger than the whole budget is refused outright.
        let (mut i, mut j) = tokio::io::duplex(64);
        i.write_all(&((5 * GROW_STEP) as u32).to_be_bytes())
            .await
            .unwrap();
        let r = read_frame_budgeted(
            &mut j,
            &mut buf2,
            MAX_FRAME,
            Duration::from_secs(5),
            &budget,
        )
        .await;
        assert!(matches!(r, Err(FrameError::TooLarge { .. })), "{r:?}");
    }
}
