//! Server-sent events as the specification frames them: lines ended by CRLF, LF or CR; `data`
//! lines joined with a newline; `event` and `id` fields; comments; an event ended by a blank
//! line. Each event keeps its original bytes, so an event nobody changed is sent on unchanged.

use bytes::Bytes;

/// One event as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event's bytes, blank line included.
    pub raw: Bytes,
    pub name: Option<String>,
    pub id: Option<String>,
    /// The `data` lines joined with `\n`; `None` when the event has none (a comment, say).
    pub data: Option<String>,
}

impl Event {
    /// The event written anew with `data` (after a change): name and id kept.
    pub fn encode(name: Option<&str>, id: Option<&str>, data: &str) -> String {
        let mut out = String::with_capacity(data.len() + 32);
        if let Some(name) = name {
            out.push_str("event: ");
            out.push_str(name);
            out.push('\n');
        }
        if let Some(id) = id {
            out.push_str("id: ");
            out.push_str(id);
            out.push('\n');
        }
        for line in data.split('\n') {
            out.push_str("data: ");
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
        out
    }
}

/// Cuts a byte stream into events.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
    /// Where the next line starts in `buf`.
    line_start: usize,
    name: Option<String>,
    id: Option<String>,
    data: Option<String>,
}

/// Why a stream could not be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge;

impl Framer {
    /// Takes `chunk`; returns the events it completed. An event larger than `max_event`
    /// bytes cannot be governed whole and fails the stream.
    pub fn push(&mut self, chunk: &[u8], max_event: usize) -> Result<Vec<Event>, TooLarge> {
        self.buf.extend_from_slice(chunk);
        let mut events = Vec::new();
        loop {
            let rest = &self.buf[self.line_start..];
            let Some(at) = rest.iter().position(|&b| b == b'\n' || b == b'\r') else {
                break;
            };
            let end = self.line_start + at;
            // A CR at the very end may be the first half of a CRLF: wait for the next byte.
            let terminator = if self.buf[end] == b'\r' {
                match self.buf.get(end + 1) {
                    Some(b'\n') => 2,
                    Some(_) => 1,
                    None => break,
                }
            } else {
                1
            };
            let line = String::from_utf8_lossy(&self.buf[self.line_start..end]).into_owned();
            self.line_start = end + terminator;
            if line.is_empty() {
                let raw: Vec<u8> = self.buf.drain(..self.line_start).collect();
                self.line_start = 0;
                events.push(Event {
                    raw: Bytes::from(raw),
                    name: self.name.take(),
                    id: self.id.take(),
                    data: self.data.take(),
                });
            } else {
                self.field(&line);
            }
        }
        if self.buf.len() > max_event {
            return Err(TooLarge);
        }
        Ok(events)
    }

    /// What is left at the end of the stream: an event without its blank line, passed on as
    /// it came.
    pub fn finish(&mut self) -> Option<Event> {
        if self.buf.is_empty() {
            return None;
        }
        // Lines not yet ended count too.
        if self.line_start < self.buf.len() {
            let line = String::from_utf8_lossy(&self.buf[self.line_start..]).into_owned();
            self.field(line.trim_end_matches('\r'));
        }
        self.line_start = 0;
        Some(Event {
            raw: Bytes::from(std::mem::take(&mut self.buf)),
            name: self.name.take(),
            id: self.id.take(),
            data: self.data.take(),
        })
    }

    fn field(&mut self, line: &str) {
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            "event" => self.name = Some(value.to_string()),
            "id" => self.id = Some(value.to_string()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &[u8] =
        b"event: a\ndata: {\"x\":\ndata: 1}\n\n: comment\n\ndata: [DONE]\r\n\r\nid: 7\rdata: z\r\r";

    #[test]
    fn frames_events_across_any_split() {
        for split in 0..STREAM.len() {
            let mut f = Framer::default();
            let mut events = f.push(&STREAM[..split], 1 << 20).unwrap();
            events.extend(f.push(&STREAM[split..], 1 << 20).unwrap());
            // A CR at the very end could still be half of a CRLF: the end of the stream says.
            events.extend(f.finish());
            assert_eq!(events.len(), 4, "split at {split}");
            assert_eq!(events[0].name.as_deref(), Some("a"));
            assert_eq!(events[0].data.as_deref(), Some("{\"x\":\n1}"));
            assert_eq!(events[1].data, None);
            assert_eq!(events[2].data.as_deref(), Some("[DONE]"));
            assert_eq!(events[3].id.as_deref(), Some("7"));
            assert_eq!(events[3].data.as_deref(), Some("z"));
            let raw: Vec<u8> = events.iter().flat_map(|e| e.raw.to_vec()).collect();
            assert_eq!(raw, STREAM);
        }
    }

    #[test]
    fn an_oversized_event_fails_and_a_tail_is_kept() {
        let mut f = Framer::default();
        assert_eq!(f.push(&[b'x'; 100], 50), Err(TooLarge));
        let mut f = Framer::default();
        assert!(f.push(b"data: tail", 1 << 20).unwrap().is_empty());
        assert_eq!(f.finish().and_then(|e| e.data).as_deref(), Some("tail"));
    }

    #[test]
    fn encoding_splits_data_lines() {
        assert_eq!(
            Event::encode(Some("e"), None, "a\nb"),
            "event: e\ndata: a\ndata: b\n\n"
        );
    }
}
