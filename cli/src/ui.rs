//! Terminal output in the flux CLI's style: status lines with glyphs on stderr, and progress
//! bars that only draw on a terminal.

use std::sync::Arc;

use artifacts::oci::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub fn action(message: impl std::fmt::Display) {
    eprintln!("► {message}");
}

pub fn success(message: impl std::fmt::Display) {
    eprintln!("✔ {message}");
}

pub fn failure(message: impl std::fmt::Display) {
    eprintln!("✗ {message}");
}

/// A byte-count bar on stderr (hidden when stderr is not a terminal) and the callback that
/// advances it.
pub fn transfer_bar(total: u64, verb: &str) -> (ProgressBar, Progress) {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(verb.to_owned());
    let handle = bar.clone();
    (bar, Arc::new(move |n| handle.inc(n)))
}

/// A spinner on stderr while waiting (hidden when stderr is not a terminal).
pub fn spinner(message: String) -> ProgressBar {
    let spinner = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    spinner.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("valid template"));
    spinner.set_message(message);
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    spinner
}

/// Rows padded into columns separated by tabs, as the flux CLI prints its tables.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("\t").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_pads_columns_and_separates_with_tabs() {
        let rows = vec![
            vec!["a:long".to_owned(), "x".to_owned()],
            vec!["b".to_owned(), "yy".to_owned()],
        ];
        assert_eq!(
            super::table(&["NAME", "V"], &rows),
            "NAME  \tV\na:long\tx\nb     \tyy\n"
        );
    }
}
