//! Progress of long operations on standard error: a bar redrawn in place on
//! a terminal, plain lines otherwise (the logs of CI jobs), so that standard
//! output keeps only the result.

use std::io::IsTerminal as _;

/// One operation's progress: `total` steps under a `label` such as
/// `rp-check`.
pub(crate) struct Progress {
    label: &'static str,
    total: usize,
    done: usize,
    /// Without a terminal, a line every this many steps (and at the last).
    every: usize,
    tty: bool,
    drawn: bool,
}

impl Progress {
    /// A line per step without a terminal.
    pub(crate) fn new(label: &'static str, total: usize) -> Self {
        Self {
            label,
            total,
            done: 0,
            every: 1,
            tty: std::io::stderr().is_terminal(),
            drawn: false,
        }
    }

    /// About ten lines in all without a terminal, for many small steps.
    pub(crate) fn coarse(label: &'static str, total: usize) -> Self {
        Self {
            every: (total / 10).max(1),
            ..Self::new(label, total)
        }
    }

    /// A step begins: on a terminal, the bar shows it.
    pub(crate) fn start(&mut self, what: &str) {
        if self.tty {
            const WIDTH: usize = 24;
            let filled = WIDTH * self.done / self.total.max(1);
            eprint!(
                "\r\x1b[2K[{}{}] {}/{} {what}",
                "#".repeat(filled),
                ".".repeat(WIDTH - filled),
                self.done,
                self.total
            );
            self.drawn = true;
        }
    }

    /// A step ended with `verdict`.
    pub(crate) fn done(&mut self, what: &str, verdict: &str) {
        self.done += 1;
        if !self.tty && (self.done.is_multiple_of(self.every) || self.done == self.total) {
            eprintln!(
                "{}: [{}/{}] {what}: {verdict}",
                self.label, self.done, self.total
            );
        }
    }

    /// Clears the bar before the result is printed.
    pub(crate) fn finish(&mut self) {
        if self.tty && self.drawn {
            eprint!("\r\x1b[2K");
            self.drawn = false;
        }
    }
}
