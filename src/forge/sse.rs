//! Server-Sent Events: [`Event`] encoding (id, event type, multi-line data, retry) and a
//! streaming response that interleaves keep-alive comments whenever the source stays quiet, so
//! proxies and clients do not time the stream out. Clients resume with `Last-Event-ID`
//! ([`last_event_id`]).

use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};

use super::request::Request;
use super::response::{Body, Response};

/// One event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    id: Option<String>,
    event: Option<String>,
    data: String,
    retry: Option<Duration>,
}

/// Drops CR and LF, which would end an SSE field early.
fn single_line(s: &str) -> String {
    s.chars().filter(|c| *c != '\r' && *c != '\n').collect()
}

impl Event {
    /// A `message` event carrying `data` (may span lines).
    pub fn new(data: impl Into<String>) -> Event {
        Event {
            data: data.into(),
            ..Event::default()
        }
    }

    /// Sets the event id (what clients send back as `Last-Event-ID`).
    pub fn id(mut self, id: impl AsRef<str>) -> Event {
        self.id = Some(single_line(id.as_ref()));
        self
    }

    /// Sets the event type.
    pub fn event(mut self, name: impl AsRef<str>) -> Event {
        self.event = Some(single_line(name.as_ref()));
        self
    }

    /// Sets the client's reconnection delay.
    pub fn retry(mut self, after: Duration) -> Event {
        self.retry = Some(after);
        self
    }

    /// The wire form, ending with the blank line that dispatches it.
    pub fn encode(&self) -> Bytes {
        let mut out = String::with_capacity(self.data.len() + 32);
        if let Some(ev) = &self.event {
            out.push_str("event: ");
            out.push_str(ev);
            out.push('\n');
        }
        if let Some(id) = &self.id {
            out.push_str("id: ");
            out.push_str(id);
            out.push('\n');
        }
        if let Some(r) = self.retry {
            out.push_str(&format!("retry: {}\n", r.as_millis()));
        }
        let data = self.data.replace("\r\n", "\n").replace('\r', "\n");
        for line in data.split('\n') {
            out.push_str("data: ");
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
        Bytes::from(out)
    }
}

/// The `Last-Event-ID` the client resumes from.
pub fn last_event_id(req: &Request) -> Option<&str> {
    req.header("last-event-id")
}

const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// A `text/event-stream` response sending `events` and a keep-alive comment after each
/// `keep_alive` of silence. The response ends when `events` does.
pub fn stream<S>(events: S, keep_alive: Duration) -> Response
where
    S: Stream<Item = Event> + Send + 'static,
{
    let keep_alive = keep_alive.max(Duration::from_millis(10));
    let state = (
        Box::pin(events),
        tokio::time::interval_at(tokio::time::Instant::now() + keep_alive, keep_alive),
    );
    let body = futures::stream::unfold(state, |(mut events, mut ticker)| async move {
        tokio::select! {
            ev = events.next() => {
                let ev = ev?;
                ticker.reset();
                Some((ev.encode(), (events, ticker)))
            }
            _ = ticker.tick() => Some((Bytes::from_static(KEEP_ALIVE), (events, ticker))),
        }
    });
    let mut res = Response::new(200)
        .with_header("content-type", "text/event-stream")
        .with_header("cache-control", "no-cache")
        .with_header("x-accel-buffering", "no");
    res.set_body(Body::Stream {
        stream: Box::pin(body),
        len: None,
    });
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_encoding_covers_every_field_and_multiline_data() {
        let ev = Event::new("a\nb\r\nc")
            .id("7")
            .event("tick")
            .retry(Duration::from_secs(3));
        assert_eq!(
            ev.encode(),
            "event: tick\nid: 7\nretry: 3000\ndata: a\ndata: b\ndata: c\n\n"
        );
        assert_eq!(Event::new("x").id("1\n2").encode(), "id: 12\ndata: x\n\n");
    }

    #[tokio::test]
    async fn quiet_source_gets_keep_alive_comments() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Event>(4);
        let events =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) });
        let mut res = stream(events, Duration::from_millis(20));
        let Body::Stream { mut stream, .. } = res.take_body() else {
            panic!("not a stream");
        };
        assert_eq!(stream.next().await.unwrap(), KEEP_ALIVE);
        tx.send(Event::new("hi")).await.unwrap();
        assert_eq!(stream.next().await.unwrap(), "data: hi\n\n");
        drop(tx);
        assert!(stream.next().await.is_none());
    }
}
