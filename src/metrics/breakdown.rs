//! Where a model's errors are, in the terms a reader of scans asks about: tumours missed outright,
//! alarms on tumour-free slices, and how the Dice changes with the tumour's size (small tumours are
//! the hard ones, and a mean over images hides them).
use super::Confusion;
use serde::{Deserialize, Serialize};

/// Missed tumours, false alarms, and Dice by tumour size over one split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Breakdown {
    pub with_tumour: usize,
    /// Images with a tumour of which the prediction covers no pixel.
    pub missed: usize,
    pub without_tumour: usize,
    /// Images without a tumour on which something is predicted.
    pub false_alarms: usize,
    /// The tumour images in thirds by tumour area (share of the image), smallest first; fewer groups
    /// when there are fewer than three such images.
    pub by_size: Vec<SizeGroup>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SizeGroup {
    pub n_images: usize,
    /// Smallest and largest tumour in the group, as a share of its image's pixels.
    pub min_area: f64,
    pub max_area: f64,
    pub mean_dice: f64,
    pub missed: usize,
}

fn truth(c: &Confusion) -> u64 {
    c.tp + c.fn_
}

/// The breakdown of per-image confusion counts.
pub fn breakdown(per_image: &[Confusion]) -> Breakdown {
    let (mut tumour, free): (Vec<&Confusion>, Vec<&Confusion>) =
        per_image.iter().partition(|c| truth(c) > 0);
    let area = |c: &Confusion| truth(c) as f64 / c.total().max(1) as f64;
    tumour.sort_by(|a, b| area(a).total_cmp(&area(b)));
    let missed = |cs: &[&Confusion]| cs.iter().filter(|c| c.tp == 0).count();
    let groups = tumour.len().min(3);
    let by_size = (0..groups)
        .map(|g| {
            // Group g takes [g·n/3, (g+1)·n/3): sizes differ by one at most.
            let part = &tumour[g * tumour.len() / groups..(g + 1) * tumour.len() / groups];
            SizeGroup {
                n_images: part.len(),
                min_area: area(part[0]),
                max_area: area(part[part.len() - 1]),
                mean_dice: part.iter().map(|c| c.dice()).sum::<f64>() / part.len() as f64,
                missed: missed(part),
            }
        })
        .collect();
    Breakdown {
        with_tumour: tumour.len(),
        missed: missed(&tumour),
        without_tumour: free.len(),
        false_alarms: free.iter().filter(|c| c.tp + c.fp > 0).count(),
        by_size,
    }
}

/// The breakdown in two sentences.
pub fn describe(b: &Breakdown) -> String {
    let mut s = format!(
        "Tumours missed outright (no predicted pixel on them): {} of {} images with a tumour; \
         false alarms on {} of {} tumour-free images.",
        b.missed, b.with_tumour, b.false_alarms, b.without_tumour
    );
    if !b.by_size.is_empty() {
        let names: &[&str] = match b.by_size.len() {
            3 => &["small", "medium", "large"],
            2 => &["smaller", "larger"],
            _ => &["all"],
        };
        let groups: Vec<String> = b
            .by_size
            .iter()
            .zip(names)
            .map(|(g, name)| {
                format!(
                    "{name} ({:.2}–{:.2} % of the image, {}, {} missed) {:.4}",
                    100.0 * g.min_area,
                    100.0 * g.max_area,
                    crate::report::count(g.n_images, "image"),
                    g.missed,
                    g.mean_dice
                )
            })
            .collect();
        s += &format!(
            "\nMean Dice by tumour size (thirds by area): {}.",
            groups.join(", ")
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An image of 100 pixels with `t` tumour pixels, `tp` of them found, and `fp` false ones.
    fn image(t: u64, tp: u64, fp: u64) -> Confusion {
        Confusion {
            tp,
            fp,
            fn_: t - tp,
            tn: 100 - t - fp,
        }
    }

    #[test]
    fn counts_misses_alarms_and_groups_by_area() {
        let images = [
            image(0, 0, 0),   // tumour-free, clean
            image(0, 0, 3),   // tumour-free, false alarm
            image(40, 40, 0), // large, Dice 1
            image(2, 0, 0),   // small, missed: Dice 0
            image(10, 5, 0),  // medium, Dice 10/15
            image(4, 4, 4),   // small, Dice 8/12
            image(30, 0, 5),  // large, missed
            image(12, 12, 0), // medium, Dice 1
        ];
        let b = breakdown(&images);
        assert_eq!((b.with_tumour, b.missed), (6, 2));
        assert_eq!((b.without_tumour, b.false_alarms), (2, 1));
        let g = &b.by_size;
        assert_eq!(g.iter().map(|g| g.n_images).collect::<Vec<_>>(), [2, 2, 2]);
        assert_eq!((g[0].min_area, g[0].max_area), (0.02, 0.04));
        assert!((g[0].mean_dice - (0.0 + 8.0 / 12.0) / 2.0).abs() < 1e-12);
        assert!((g[1].mean_dice - (10.0 / 15.0 + 1.0) / 2.0).abs() < 1e-12);
        assert_eq!((g[2].mean_dice, g[2].missed), (0.5, 1));
        let text = describe(&b);
        assert!(
            text.contains("2 of 6 images with a tumour; false alarms on 1 of 2"),
            "{text}"
        );
        assert!(
            text.contains("small (2.00–4.00 % of the image, 2 images, 1 missed) 0.3333"),
            "{text}"
        );
        // Two tumour images make two groups.
        let two = breakdown(&images[2..4]);
        assert_eq!(two.by_size.len(), 2);
        assert!(
            describe(&two).contains("smaller (2.00–2.00 %"),
            "{}",
            describe(&two)
        );
        assert!(breakdown(&images[..2]).by_size.is_empty());
    }
}
