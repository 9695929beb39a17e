//! How much of a hook's output reaches the `info` log: the head and the tail of each stream,
//! with a count of what was cut in between. A hook printing 10 MB would otherwise put 10 MB
//! into the operator's log on every run.
//!
//! # Guarantees
//! - At most [`HEAD_BYTES`] + [`TAIL_BYTES`] of each stream (stdout, stderr) of a run are
//!   logged at `info`, plus one line saying how many lines and bytes were cut.
//! - Every line is logged in full exactly once, at `info` or at `debug`, in order, so
//!   `LOG_LEVEL=debug` shows the full output: the cut lines, and the full text of a line
//!   whose end alone is shown at `info`.

use std::collections::VecDeque;

/// Bytes of a stream logged at `info` from its start.
pub(crate) const HEAD_BYTES: usize = 16 * 1024;
/// Bytes of a stream logged at `info` from its end.
pub(crate) const TAIL_BYTES: usize = 16 * 1024;

/// One log event of a stream.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Emit<'a> {
    /// A line (or the end of a line too long for the tail) for the `info` log.
    Info(&'a str),
    /// A line, in full, that the `info` log does not show in full.
    Debug(&'a str),
    /// What the `info` log leaves out, logged just before the tail.
    Cut {
        /// Lines not shown at `info` at all.
        lines: usize,
        /// Bytes not shown at `info` (whole lines and the cut start of overlong lines).
        bytes: usize,
    },
}

/// The head and tail budget of one stream of one run.
#[derive(Debug)]
pub(crate) struct OutputLog {
    head_left: usize,
    tail: VecDeque<String>,
    tail_bytes: usize,
    cut_lines: usize,
    cut_bytes: usize,
}

impl OutputLog {
    pub(crate) fn new() -> Self {
        Self {
            head_left: HEAD_BYTES,
            tail: VecDeque::new(),
            tail_bytes: 0,
            cut_lines: 0,
            cut_bytes: 0,
        }
    }

    /// Takes the next line of the stream (without its newline).
    pub(crate) fn line(&mut self, line: String, emit: &mut dyn FnMut(Emit<'_>)) {
        if line.len() <= self.head_left && self.tail.is_empty() {
            self.head_left -= line.len();
            emit(Emit::Info(&line));
            return;
        }
        self.head_left = 0;
        self.tail_bytes += line.len();
        self.tail.push_back(line);
        while self.tail_bytes > TAIL_BYTES && self.tail.len() > 1 {
            if let Some(old) = self.tail.pop_front() {
                self.tail_bytes -= old.len();
                self.cut_lines += 1;
                self.cut_bytes += old.len();
                emit(Emit::Debug(&old));
            }
        }
    }

    /// Ends the stream: the count of what was cut, then the tail.
    pub(crate) fn finish(self, emit: &mut dyn FnMut(Emit<'_>)) {
        // Only a single line can exceed the tail budget; `info` shows its end.
        let shorten = |line: &str| {
            let mut start = line.len().saturating_sub(TAIL_BYTES);
            while !line.is_char_boundary(start) {
                start += 1;
            }
            start
        };
        let cut_start: usize = self.tail.iter().map(|l| shorten(l)).sum();
        if self.cut_lines > 0 || cut_start > 0 {
            emit(Emit::Cut {
                lines: self.cut_lines,
                bytes: self.cut_bytes + cut_start,
            });
        }
        for line in &self.tail {
            let start = shorten(line);
            if start > 0 {
                emit(Emit::Debug(line));
            }
            emit(Emit::Info(&line[start..]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum Event {
        Info(String),
        Debug(String),
        Cut(usize, usize),
    }

    fn run(lines: &[String]) -> Vec<Event> {
        let mut events = Vec::new();
        let mut emit = |e: Emit<'_>| {
            events.push(match e {
                Emit::Info(l) => Event::Info(l.into()),
                Emit::Debug(l) => Event::Debug(l.into()),
                Emit::Cut { lines, bytes } => Event::Cut(lines, bytes),
            })
        };
        let mut log = OutputLog::new();
        for l in lines {
            log.line(l.clone(), &mut emit);
        }
        log.finish(&mut emit);
        events
    }

    #[test]
    fn short_output_is_logged_in_full_at_info() {
        let lines: Vec<String> = (0..10).map(|i| format!("line {i}")).collect();
        let events = run(&lines);
        assert_eq!(
            events,
            lines
                .iter()
                .map(|l| Event::Info(l.clone()))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn long_output_keeps_head_and_tail_at_info_and_everything_once_at_debug() {
        let lines: Vec<String> = (0..10_000).map(|i| format!("{i:0>99}")).collect();
        let events = run(&lines);
        let info: usize = events
            .iter()
            .map(|e| match e {
                Event::Info(l) => l.len(),
                _ => 0,
            })
            .sum();
        assert!(info <= HEAD_BYTES + TAIL_BYTES, "{info} bytes at info");
        let cut = events.iter().position(|e| matches!(e, Event::Cut(..)));
        let Some(Event::Cut(cut_lines, cut_bytes)) = cut.map(|i| &events[i]) else {
            panic!("no cut summary")
        };
        let shown = events
            .iter()
            .filter(|e| matches!(e, Event::Info(_)))
            .count();
        assert_eq!(*cut_lines, lines.len() - shown);
        assert_eq!(*cut_bytes, cut_lines * 99);
        let in_order: Vec<&String> = events
            .iter()
            .filter_map(|e| match e {
                Event::Info(l) | Event::Debug(l) => Some(l),
                Event::Cut(..) => None,
            })
            .collect();
        assert_eq!(in_order, lines.iter().collect::<Vec<_>>());
        assert_eq!(events.last(), Some(&Event::Info(lines[9_999].clone())));
    }

    #[test]
    fn one_huge_line_shows_its_end_at_info_and_all_of_it_at_debug() {
        let huge = format!("start{}end", "x".repeat(3 * TAIL_BYTES));
        let events = run(std::slice::from_ref(&huge));
        let Event::Info(shown) = &events[2] else {
            panic!("{:?}", &events[..2])
        };
        assert!(shown.ends_with("end") && shown.len() == TAIL_BYTES);
        assert_eq!(events[0], Event::Cut(0, huge.len() - TAIL_BYTES));
        assert_eq!(events[1], Event::Debug(huge));
    }
}
