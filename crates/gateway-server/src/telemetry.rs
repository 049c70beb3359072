//! Structured logs with tracing: human text or JSON, to stderr so stdout stays clean for
//! machine-readable output (`tenant create`). While a progress bar is on screen (`reconcile`),
//! each log line is written with the bar taken off and redrawn after it, so lines never land
//! inside the bar and no half-drawn bar stays behind.

use std::io::{IsTerminal, Write};
use std::sync::{Mutex, PoisonError};

use indicatif::ProgressBar;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// The bar on screen, if any; set by the command that draws it.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Routes log lines around `bar` until [`clear_progress_bar`].
pub fn set_progress_bar(bar: &ProgressBar) {
    *BAR.lock().unwrap_or_else(PoisonError::into_inner) = Some(bar.clone());
}

/// Log lines go straight to stderr again.
pub fn clear_progress_bar() {
    *BAR.lock().unwrap_or_else(PoisonError::into_inner) = None;
}

/// Writes one formatted event (tracing's fmt layer hands over a whole line per `write`) to
/// `inner`, with the current progress bar suspended around it.
pub struct AroundBar<W: Write> {
    inner: W,
}

impl<W: Write> AroundBar<W> {
    /// Wraps a writer.
    pub fn new(inner: W) -> Self {
        Self { inner }
    }
}

impl<W: Write> Write for AroundBar<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = BAR.lock().unwrap_or_else(PoisonError::into_inner).clone();
        match bar {
            Some(bar) if !bar.is_hidden() => {
                let inner = &mut self.inner;
                bar.suspend(|| {
                    inner.write_all(buf)?;
                    inner.flush()
                })?;
                Ok(buf.len())
            }
            _ => self.inner.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The fmt layer's writer: stderr, around the bar.
struct StderrAroundBar;

impl<'a> MakeWriter<'a> for StderrAroundBar {
    type Writer = AroundBar<std::io::Stderr>;
    fn make_writer(&'a self) -> Self::Writer {
        AroundBar::new(std::io::stderr())
    }
}

/// Installs the global subscriber once. `RUST_LOG` wins over the configured level.
pub fn init(format: &str, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let registry = tracing_subscriber::registry().with(filter);
    let result = if format == "json" {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_writer(StderrAroundBar),
            )
            .try_init()
    } else {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(StderrAroundBar),
            )
            .try_init()
    };
    // A second init (tests) keeps the first subscriber; that is fine.
    let _ = result;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::{Arc, Mutex};

    use indicatif::{ProgressDrawTarget, TermLike};

    use super::*;

    /// A terminal and a log sink that record, in one shared list, what reached the screen.
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<Mutex<Vec<String>>>);

    impl Screen {
        fn push(&self, s: String) {
            self.0.lock().unwrap().push(s);
        }
        fn lines(&self) -> Vec<String> {
            self.0.lock().unwrap().clone()
        }
    }

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            120
        }
        fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
            self.push(format!("<up {n}>"));
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.push(format!("bar: {s}"));
            Ok(())
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            if !s.is_empty() {
                self.push(format!("bar: {s}"));
            }
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            self.push("<clear>".into());
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Write for Screen {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.push(format!("log: {}", String::from_utf8_lossy(buf).trim_end()));
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn log_lines_are_written_with_the_bar_off_screen_and_the_bar_finishes_with_the_outcome() {
        let screen = Screen::default();
        let bar = ProgressBar::with_draw_target(
            None,
            ProgressDrawTarget::term_like(Box::new(screen.clone())),
        );
        bar.set_style(indicatif::ProgressStyle::with_template("{msg}").unwrap());
        bar.set_message("listing: 1 pages");
        bar.tick();
        set_progress_bar(&bar);
        let mut writer = AroundBar::new(screen.clone());
        writer
            .write_all(b"WARN a provider page was slow\n")
            .unwrap();
        bar.set_message("confirming: 3 flagged");
        bar.tick();
        bar.finish_with_message("succeeded: 3 flagged");
        clear_progress_bar();

        let lines = screen.lines();
        let log = lines
            .iter()
            .position(|l| l == "log: WARN a provider page was slow")
            .unwrap();
        // The bar was drawn, then taken off the line (cleared) right before the log line, then
        // drawn again below it: the log line never shares a line with the bar.
        assert!(
            lines[..log].iter().any(|l| l.contains("listing: 1 pages")),
            "{lines:?}"
        );
        let last_draw = lines[..log]
            .iter()
            .rposition(|l| l.starts_with("bar: "))
            .unwrap();
        let last_clear = lines[..log].iter().rposition(|l| l == "<clear>").unwrap();
        assert!(last_clear > last_draw, "{lines:?}");
        assert!(
            lines[log + 1..]
                .iter()
                .any(|l| l.contains("listing: 1 pages")),
            "{lines:?}"
        );
        // Its last state is the outcome, not a spinner frozen mid-run.
        let last_bar = lines
            .iter()
            .rev()
            .find(|l| l.starts_with("bar: ") && !l[5..].trim().is_empty())
            .unwrap();
        assert!(last_bar.contains("succeeded: 3 flagged"), "{lines:?}");
    }
}
