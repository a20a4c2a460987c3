//! Progress bars for work over many files. indicatif draws on stderr only when it is a terminal, so
//! logs, pipes and tests see nothing; on a terminal the bar is cleared when the work is done.
use indicatif::{ProgressBar, ProgressState, ProgressStyle};

/// A bar over `len` items, labelled with what is being done ("hash", "predict") and counting `unit`s
/// ("img", "file") in its rate.
pub fn items(len: u64, what: &str, unit: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(items_style(unit));
    bar.set_message(what.to_string());
    bar
}

/// indicatif's own `{per_sec}` gives four decimals (`5.1118/s`): the rate here has three
/// significant digits and says what it counts.
fn items_style(unit: &'static str) -> ProgressStyle {
    ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} {rate} eta {eta}")
        .expect("static template")
        .with_key(
            "rate",
            move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                // A failed write only loses this frame's rate.
                let _ = w.write_str(&rate(state.per_sec(), unit));
            },
        )
        .progress_chars("=> ")
}

/// `per_sec` with three significant digits: `5.11 img/s`, `123 img/s`; below one per second, the
/// seconds each takes (`2.50 s/img`), which reads better than `0.400 img/s`.
pub fn rate(per_sec: f64, unit: &str) -> String {
    if !per_sec.is_finite() || per_sec <= 0.0 {
        return format!("– {unit}/s");
    }
    match per_sec >= 1.0 {
        true => format!("{} {unit}/s", significant(per_sec)),
        false => format!("{} s/{unit}", significant(1.0 / per_sec)),
    }
}

/// `x` (at least 1) with three significant digits, or as a whole number from 100 on.
fn significant(x: f64) -> String {
    let decimals = match x {
        x if x < 9.995 => 2,
        x if x < 99.95 => 1,
        _ => 0,
    };
    format!("{x:.decimals$}")
}

/// A spinner for a few steps of unknown length (export's trace, check and write), each named by
/// `set_message`.
pub fn steps(first: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("static template"),
    );
    bar.set_message(first.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use indicatif::{ProgressDrawTarget, TermLike};
    use std::sync::{Arc, Mutex};

    #[test]
    fn rates_have_three_significant_digits_and_their_unit() {
        assert_eq!(rate(5.1118, "img"), "5.11 img/s");
        assert_eq!(rate(9.999, "img"), "10.0 img/s");
        assert_eq!(rate(42.06, "file"), "42.1 file/s");
        assert_eq!(rate(1234.5678, "file"), "1235 file/s");
        assert_eq!(rate(0.4, "vol"), "2.50 s/vol");
        assert_eq!(rate(0.0, "img"), "– img/s");
    }

    /// A terminal that keeps what is drawn on it.
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<Mutex<String>>);

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            120
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
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
            self.write_str(&format!("{s}\n"))
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push_str(s);
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_bar_draws_its_rate_in_units_not_four_decimals() {
        let screen = Screen::default();
        let bar = items(40, "predict", "img");
        bar.set_draw_target(ProgressDrawTarget::term_like(Box::new(screen.clone())));
        bar.inc(7);
        std::thread::sleep(std::time::Duration::from_millis(20));
        // Finished, the rate is the items over the time taken: never a round number.
        bar.finish();
        let drawn = screen.0.lock().unwrap().clone();
        let last = drawn.lines().last().unwrap_or_default().to_string();
        assert!(
            last.contains("predict [") && last.contains("7/40"),
            "{drawn:?}"
        );
        let rate = last
            .split(" img/s")
            .next()
            .unwrap()
            .rsplit(' ')
            .next()
            .unwrap();
        let decimals = rate.split('.').nth(1).map_or(0, str::len);
        assert!(rate.parse::<f64>().is_ok() && decimals <= 2, "{last:?}");
    }
}
