//! The per-epoch progress bar (images/s, loss, ETA) on a terminal; nothing when stderr is not one.

use indicatif::{ProgressBar, ProgressStyle};

/// One epoch's bar.
pub struct EpochBar(ProgressBar);

impl EpochBar {
    /// A bar of `batches` steps titled `title`.
    pub fn new(title: String, batches: usize) -> EpochBar {
        let bar = ProgressBar::new(batches as u64);
        let style = ProgressStyle::with_template(
            "{prefix:>12} [{bar:30.cyan/blue}] {pos}/{len} {msg} ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(title);
        EpochBar(bar)
    }

    /// Moves to batch `done` with the running figures.
    pub fn update(&self, done: usize, loss: f64, acc: f64, images_per_s: f64) {
        self.0.set_position(done as u64);
        self.0.set_message(format!(
            "loss {loss:.4} acc {:.1}% {images_per_s:.0} img/s",
            acc * 100.0
        ));
    }

    /// Removes the bar (the caller prints the epoch summary).
    pub fn finish(self) {
        self.0.finish_and_clear();
    }
}
