//! The frames the load generator writes and the little it reads back.
//!
//! A send frame is assembled from pre-built pieces instead of going through
//! `serde`, and its `clientMessageId` (`lg.{run}.{nanos}.{conn}.{seq}`)
//! carries everything the receiver needs: the send instant in nanoseconds
//! since the process's clock origin (for latency; 16 hex digits, so that the
//! ids are time-ordered like the UUID v7 ids the client core makes, which is
//! what the server's idempotency index is laid out for), which connection
//! sent it and its sequence number on that connection (for loss and
//! duplicate accounting). The content repeats the same fields and is padded to the wanted
//! size. Incoming frames are classified by their leading `type` and only the
//! needed fields are borrowed out of them.

use serde::Deserialize;
use std::borrow::Cow;
use std::fmt::Write as _;

/// Largest sequence number accepted back from the wire, so that a corrupt
/// id cannot make a bitmap grow without bound.
pub const MAX_SEQ: u64 = 1 << 32;

/// What a `clientMessageId` made by [`SendFrameBuilder`] carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// Index of the sending connection.
    pub conn: usize,
    /// Sequence number of the send on that connection, from 0.
    pub seq: u64,
    /// Send instant, nanoseconds since the clock origin.
    pub nanos: u64,
}

/// Builds the `send` frames of one connection.
#[derive(Debug, Clone)]
pub struct SendFrameBuilder {
    /// `{"type":"send","clientMessageId":"lg.{run}.`
    head: String,
    /// Index of the sending connection.
    conn: usize,
    /// `","contextType":"ordonnance","contextId":"…","content":"loadgen {conn} `
    middle: String,
    /// Characters of content before the sequence number.
    content_head_len: usize,
    /// Wanted content length.
    size: usize,
}

/// Padding characters of the content.
const PAD: &str = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

impl SendFrameBuilder {
    /// Frames of connection `conn` about `context_id`, content of `size` characters
    /// (or the shortest content that holds the token when `size` is smaller).
    pub fn new(run: &str, conn: usize, context_id: &str, size: usize) -> Self {
        let head = format!(r#"{{"type":"send","clientMessageId":"lg.{run}."#);
        let content_head = format!("loadgen {conn} ");
        let middle = format!(
            r#"","contextType":"ordonnance","contextId":"{context_id}","content":"{content_head}"#
        );
        Self {
            head,
            conn,
            middle,
            content_head_len: content_head.len(),
            size,
        }
    }

    /// The frame text of send `seq` at `nanos`.
    pub fn build(&self, seq: u64, nanos: u64) -> String {
        let mut s = String::with_capacity(self.head.len() + self.middle.len() + self.size + 64);
        s.push_str(&self.head);
        let _ = write!(s, "{nanos:016x}.{}.{seq}", self.conn);
        s.push_str(&self.middle);
        let before = s.len();
        let _ = write!(s, "{seq} {nanos} ");
        let mut content_len = self.content_head_len + (s.len() - before);
        while content_len < self.size {
            let n = (self.size - content_len).min(PAD.len());
            s.push_str(&PAD[..n]);
            content_len += n;
        }
        s.push_str("\"}");
        s
    }
}

/// Parses a `clientMessageId` of this run; `None` for anything else.
pub fn parse_client_message_id(run: &str, id: &str) -> Option<Token> {
    let rest = id
        .strip_prefix("lg.")?
        .strip_prefix(run)?
        .strip_prefix('.')?;
    let mut parts = rest.splitn(3, '.');
    let nanos = parts.next().filter(|h| h.len() == 16)?;
    let nanos = u64::from_str_radix(nanos, 16).ok()?;
    let conn = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    (seq < MAX_SEQ).then_some(Token { conn, seq, nanos })
}

/// The `delivered` receipt of a message.
pub fn delivered_frame(message_id: &str) -> String {
    let id = serde_json::to_string(message_id).unwrap_or_else(|_| "\"\"".into());
    format!(r#"{{"type":"delivered","messageId":{id}}}"#)
}

/// The relay's acknowledgement of a send.
pub fn relay_ack_frame(client_message_id: &str) -> String {
    let id = serde_json::to_string(client_message_id).unwrap_or_else(|_| "\"\"".into());
    format!(r#"{{"type":"ack","clientMessageId":{id}}}"#)
}

/// The `type` of a frame. Serde writes an internally tagged enum's tag
/// first, so the fast path is a prefix match; anything else is parsed.
pub fn frame_type(text: &str) -> Cow<'_, str> {
    if let Some(rest) = text.strip_prefix(r#"{"type":""#) {
        if let Some(end) = rest.find('"') {
            return Cow::Borrowed(&rest[..end]);
        }
    }
    #[derive(Deserialize)]
    struct Tagged<'a> {
        #[serde(rename = "type", borrow)]
        kind: Cow<'a, str>,
    }
    serde_json::from_str::<Tagged<'_>>(text).map_or(Cow::Borrowed(""), |t| t.kind)
}

/// The top-level `clientMessageId` of an `ack` (server or relay) or of a
/// `send` forwarded by the relay.
#[derive(Debug, Deserialize)]
pub struct WithClientMessageId<'a> {
    /// The send's idempotency key.
    #[serde(rename = "clientMessageId", borrow)]
    pub client_message_id: Cow<'a, str>,
}

/// The ids of the message in a `message` frame.
#[derive(Debug, Deserialize)]
pub struct MessageFrame<'a> {
    /// The stored message.
    #[serde(borrow)]
    pub message: MessageIds<'a>,
}

/// The two ids of a stored message.
#[derive(Debug, Deserialize)]
pub struct MessageIds<'a> {
    /// Server-made id.
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    /// The sender's idempotency key.
    #[serde(rename = "clientMessageId", borrow)]
    pub client_message_id: Cow<'a, str>,
}

/// The fields of an `error` frame the report uses.
#[derive(Debug, Deserialize)]
pub struct ErrorFrame {
    /// Stable code.
    pub code: String,
    /// The send it is about, if any.
    #[serde(rename = "clientMessageId", default)]
    pub client_message_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use dmp_protocol::ws::ClientFrame;

    #[test]
    fn send_frames_follow_the_protocol() {
        let b = SendFrameBuilder::new("ab12", 7, "ord_lg3", 100);
        let text = b.build(42, 123_456_789);
        match serde_json::from_str::<ClientFrame>(&text).unwrap() {
            ClientFrame::Send {
                client_message_id,
                context_type,
                context_id,
                content,
                ..
            } => {
                assert!(client_message_id.is_valid());
                assert_eq!(client_message_id.as_str(), "lg.ab12.00000000075bcd15.7.42");
                assert_eq!(context_type.as_str(), "ordonnance");
                assert_eq!(context_id.as_str(), "ord_lg3");
                assert_eq!(content.chars().count(), 100);
                assert!(content.starts_with("loadgen 7 42 123456789 x"));
            }
            other => panic!("unexpected {other:?}"),
        }
        let token = parse_client_message_id("ab12", "lg.ab12.00000000075bcd15.7.42").unwrap();
        assert_eq!(
            token,
            Token {
                conn: 7,
                seq: 42,
                nanos: 123_456_789
            }
        );
        assert!(parse_client_message_id("zz99", "lg.ab12.0000000000000001.7.42").is_none());
        assert!(parse_client_message_id("ab12", "lg.ab12.0000000000000001.7.x").is_none());
        assert!(parse_client_message_id("ab12", "lg.ab12.1.7.42").is_none());
        assert!(
            parse_client_message_id("ab12", &format!("lg.ab12.0000000000000001.7.{MAX_SEQ}"))
                .is_none()
        );
        // Later sends sort after earlier ones, whatever the connection.
        assert!(
            b.build(1, 2_000) > SendFrameBuilder::new("ab12", 900, "ord_lg3", 100).build(7, 1_000)
        );
    }

    #[test]
    fn short_and_long_contents() {
        let short = SendFrameBuilder::new("r", 0, "ord_lg0", 1).build(1, 2);
        let v: serde_json::Value = serde_json::from_str(&short).unwrap();
        assert_eq!(v["content"], "loadgen 0 1 2 ");
        let long = SendFrameBuilder::new("r", 0, "ord_lg0", 1000).build(1, 2);
        let v: serde_json::Value = serde_json::from_str(&long).unwrap();
        assert_eq!(v["content"].as_str().unwrap().len(), 1000);
    }

    #[test]
    fn reads_server_frames() {
        let ack = r#"{"type":"ack","clientMessageId":"lg.r.1.2.3","message":{"id":"msg_1","clientMessageId":"lg.r.1.2.3","content":"a \" b"}}"#;
        assert_eq!(frame_type(ack), "ack");
        assert_eq!(
            serde_json::from_str::<WithClientMessageId<'_>>(ack)
                .unwrap()
                .client_message_id,
            "lg.r.1.2.3"
        );
        let msg = r#"{"type":"message","message":{"id":"msg_1","content":"x","sender":{"id":"patient_lg0"},"clientMessageId":"lg.r.1.2.3","seq":1}}"#;
        let m = serde_json::from_str::<MessageFrame<'_>>(msg).unwrap();
        assert_eq!(
            (m.message.id.as_ref(), m.message.client_message_id.as_ref()),
            ("msg_1", "lg.r.1.2.3")
        );
        let err = r#"{"type":"error","code":"RATE_LIMIT_EXCEEDED","message":"slow down","clientMessageId":"lg.r.1.2.3"}"#;
        let e = serde_json::from_str::<ErrorFrame>(err).unwrap();
        assert_eq!(e.code, "RATE_LIMIT_EXCEEDED");
        assert_eq!(e.client_message_id.as_deref(), Some("lg.r.1.2.3"));
        assert_eq!(
            frame_type(r#"{ "online":true, "type":"presence"}"#),
            "presence"
        );
        assert_eq!(frame_type("not json"), "");
        assert_eq!(
            delivered_frame("msg_1"),
            r#"{"type":"delivered","messageId":"msg_1"}"#
        );
        assert_eq!(
            relay_ack_frame("c1"),
            r#"{"type":"ack","clientMessageId":"c1"}"#
        );
    }
}
