//! How a scanner's values (DICOM after its rescale, NIfTI after its scaling) become the 8-bit grey the
//! model was trained on: the file's own display range, each slice's minimum to maximum, or one window
//! given for every slice.
use std::str::FromStr;

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Window {
    /// The file's own: a DICOM slice's first window or VOI LUT, a NIfTI volume's cal_min–cal_max, as
    /// a viewer shows them; each slice's minimum to maximum without one.
    #[default]
    First,
    /// Each slice's lowest value to its highest, as 8-bit exports of MRI often are.
    MinMax,
    /// One linear window for every slice, whatever the files say.
    Fixed { center: f64, width: f64 },
}

impl FromStr for Window {
    type Err = String;

    fn from_str(s: &str) -> Result<Window, String> {
        let unknown = || format!("`{s}` is not first, minmax or CENTER,WIDTH");
        match s {
            "first" => return Ok(Window::First),
            "minmax" => return Ok(Window::MinMax),
            _ => {}
        }
        let numbers: Vec<f64> = s
            .split(',')
            .map(|p| p.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| unknown())?;
        match numbers[..] {
            [center, width] if center.is_finite() && width.is_finite() && width >= 1.0 => {
                Ok(Window::Fixed { center, width })
            }
            // The standard's linear window divides by width − 1.
            [_, _] => Err(format!("`{s}`: the width must be at least 1")),
            _ => Err(unknown()),
        }
    }
}

impl Window {
    /// The values mapped to grey 0 and 255 for a slice whose own range is `own` (None when the file
    /// gives none) and whose values span `slice` (min, max). A fixed window's ends are DICOM's
    /// linear window's (PS3.3 C.11.2.1.2.1), so one CENTER,WIDTH means the same for both formats.
    pub fn range(self, own: Option<(f64, f64)>, slice: (f64, f64)) -> (f64, f64) {
        match (self, own) {
            (Window::Fixed { center, width }, _) => (
                center - 0.5 - (width - 1.0) / 2.0,
                center - 0.5 + (width - 1.0) / 2.0,
            ),
            (Window::First, Some(own)) => own,
            _ => slice,
        }
    }
}

/// `lo` to grey 0 and `hi` to 255, linearly, clamped and rounded; non-finite values (NaN in a float
/// volume) are 0, and a flat range (`hi <= lo`) is black.
pub fn grey(values: impl Iterator<Item = f32>, lo: f64, hi: f64) -> Vec<u8> {
    let scale = if hi > lo { 255.0 / (hi - lo) } else { 0.0 };
    values
        .map(|v| {
            let g = if v.is_finite() {
                (f64::from(v) - lo) * scale
            } else {
                0.0
            };
            g.round().clamp(0.0, 255.0) as u8
        })
        .collect()
}

/// The lowest and highest finite value ((0, 0) when there is none).
pub fn min_max(values: impl Iterator<Item = f32>) -> (f64, f64) {
    values
        .filter(|v| v.is_finite())
        .fold(None, |range: Option<(f32, f32)>, v| {
            Some(range.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))))
        })
        .map_or((0.0, 0.0), |(lo, hi)| (f64::from(lo), f64::from(hi)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_the_window() {
        let fixed = Window::Fixed {
            center: 40.5,
            width: 81.0,
        };
        assert_eq!(fixed.range(Some((1.0, 2.0)), (3.0, 4.0)), (0.0, 80.0));
        assert_eq!(
            Window::First.range(Some((1.0, 2.0)), (3.0, 4.0)),
            (1.0, 2.0)
        );
        assert_eq!(Window::First.range(None, (3.0, 4.0)), (3.0, 4.0));
        assert_eq!(
            Window::MinMax.range(Some((1.0, 2.0)), (3.0, 4.0)),
            (3.0, 4.0)
        );
    }

    #[test]
    fn grey_stretches_clamps_and_blanks() {
        let v = [-10.0, 0.0, 50.0, 100.0, 200.0, f32::NAN];
        assert_eq!(grey(v.into_iter(), 0.0, 510.0), [0, 0, 25, 50, 100, 0]);
        assert_eq!(grey(v.into_iter(), 100.0, 150.0), [0, 0, 0, 0, 255, 0]);
        assert_eq!(grey(v.into_iter(), 5.0, 5.0), [0; 6]);
        assert_eq!(min_max(v.into_iter()), (-10.0, 200.0));
        assert_eq!(min_max([f32::NAN].into_iter()), (0.0, 0.0));
    }

    #[test]
    fn windows_parse_or_say_why() {
        assert_eq!("minmax".parse(), Ok(Window::MinMax));
        assert_eq!(
            "600,1200".parse(),
            Ok(Window::Fixed {
                center: 600.0,
                width: 1200.0
            })
        );
        assert!("600,0.5"
            .parse::<Window>()
            .unwrap_err()
            .contains("at least 1"));
        assert!("bright"
            .parse::<Window>()
            .unwrap_err()
            .contains("not first"));
    }
}
