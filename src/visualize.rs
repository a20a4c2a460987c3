//! Figures: rows of four square panels, MRI | ground truth | prediction | overlay, the overlay showing
//! the truth outline in green, the prediction outline in red (yellow where they coincide) and the
//! image's scores (Dice, and HD95 when both masks have tumour). Text uses a built-in 5×7 bitmap font so figures never depend on installed fonts.
use anyhow::{Context, Result};
use image::{imageops, GrayImage, Rgb, RgbImage};
use rand::seq::index::sample;
use rand::SeedableRng;
use std::path::Path;

/// The folder of a run that holds its figures.
pub const DIR: &str = "figures";

/// How the samples of a figure were chosen, which every figure's name starts with
/// (`<mode>_<split>.png`, and its rows `<mode>_<split>_<rank>_<stem>.png`).
pub const MODES: [&str; 2] = [RANDOM, WORST];
pub const RANDOM: &str = "random";
pub const WORST: &str = "worst";

/// Whether `name` is a figure tumorseg writes into [`DIR`].
pub fn is_figure(name: &str) -> bool {
    let mode = |m: &&str| {
        name.strip_prefix(m)
            .is_some_and(|rest| rest.starts_with('_'))
    };
    name.ends_with(".png") && MODES.iter().any(mode)
}

/// Removes the figures in `dir` (a run's [`DIR`]), and the folder when nothing else is left in it:
/// a file of the user's there stays, with its folder.
pub fn remove_figures(dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry
            .with_context(|| format!("read {}", dir.display()))?
            .path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if path.is_file() && name.is_some_and(|n| is_figure(&n)) {
            std::fs::remove_file(&path).with_context(|| format!("remove {}", path.display()))?;
        }
    }
    let empty = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none());
    if empty {
        std::fs::remove_dir(dir).with_context(|| format!("remove {}", dir.display()))?;
    }
    Ok(())
}

pub const TRUTH: Rgb<u8> = Rgb([0, 230, 0]);
pub const PRED: Rgb<u8> = Rgb([255, 40, 40]);
pub const BOTH: Rgb<u8> = Rgb([255, 230, 0]);
/// Panels per row.
pub const PANELS: u32 = 4;

/// One row, each panel `panel`×`panel`. `truth`/`pred` are masks (non-zero = foreground) at the
/// image's size; `labels`, one per line, go top-left of the overlay.
pub fn row(
    img: &GrayImage,
    truth: &GrayImage,
    pred: &GrayImage,
    labels: &[String],
    panel: u32,
) -> RgbImage {
    let mri = imageops::resize(img, panel, panel, imageops::FilterType::Triangle);
    let truth = binary(&imageops::resize(
        truth,
        panel,
        panel,
        imageops::FilterType::Nearest,
    ));
    let pred = binary(&imageops::resize(
        pred,
        panel,
        panel,
        imageops::FilterType::Nearest,
    ));
    let mut out = RgbImage::new(PANELS * panel, panel);
    let grey = gray_to_rgb(&mri);
    imageops::replace(&mut out, &grey, 0, 0);
    imageops::replace(&mut out, &gray_to_rgb(&scale_mask(&truth)), panel as i64, 0);
    imageops::replace(
        &mut out,
        &gray_to_rgb(&scale_mask(&pred)),
        2 * panel as i64,
        0,
    );
    let mut over = grey;
    outline(&mut over, &truth, &pred);
    let scale = (panel / 128).max(1);
    for (line, text) in labels.iter().enumerate() {
        let y = (3 + 10 * line as u32) * scale;
        draw_text(&mut over, text, 3 * scale, y, scale);
    }
    imageops::replace(&mut out, &over, 3 * panel as i64, 0);
    out
}

/// Rows stacked vertically (all rows must have one width).
pub fn stack(rows: &[RgbImage]) -> RgbImage {
    let w = rows.iter().map(|r| r.width()).max().unwrap_or(0);
    let h = rows.iter().map(|r| r.height()).sum();
    let mut out = RgbImage::new(w, h);
    let mut y = 0i64;
    for r in rows {
        imageops::replace(&mut out, r, 0, y);
        y += r.height() as i64;
    }
    out
}

/// `n` distinct indices out of `len`, reproducible for a seed, in ascending order.
pub fn pick_random(len: usize, n: usize, seed: u64) -> Vec<usize> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut v = sample(&mut rng, len, n.min(len)).into_vec();
    v.sort_unstable();
    v
}

/// Indices of the `n` lowest scores, worst first (ties by index, so the choice is stable).
pub fn pick_worst(scores: &[f64], n: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    idx.truncate(n);
    idx
}

fn binary(m: &GrayImage) -> GrayImage {
    GrayImage::from_fn(m.width(), m.height(), |x, y| {
        image::Luma([u8::from(m.get_pixel(x, y)[0] != 0)])
    })
}

fn scale_mask(m: &GrayImage) -> GrayImage {
    GrayImage::from_fn(m.width(), m.height(), |x, y| {
        image::Luma([m.get_pixel(x, y)[0] * 255])
    })
}

fn gray_to_rgb(g: &GrayImage) -> RgbImage {
    RgbImage::from_fn(g.width(), g.height(), |x, y| {
        let v = g.get_pixel(x, y)[0];
        Rgb([v, v, v])
    })
}

/// A pixel is on the outline when it is foreground with a 4-neighbour outside the mask or the image.
fn on_edge(m: &GrayImage, x: u32, y: u32) -> bool {
    if m.get_pixel(x, y)[0] == 0 {
        return false;
    }
    let (w, h) = m.dimensions();
    x == 0
        || y == 0
        || x + 1 == w
        || y + 1 == h
        || [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)]
            .iter()
            .any(|&(a, b)| m.get_pixel(a, b)[0] == 0)
}

fn outline(img: &mut RgbImage, truth: &GrayImage, pred: &GrayImage) {
    for y in 0..img.height() {
        for x in 0..img.width() {
            let colour = match (on_edge(truth, x, y), on_edge(pred, x, y)) {
                (true, true) => BOTH,
                (true, false) => TRUTH,
                (false, true) => PRED,
                _ => continue,
            };
            img.put_pixel(x, y, colour);
        }
    }
}

/// 5×7 glyphs, one byte per row, bit 4 = leftmost column. Unknown characters draw as blanks.
fn glyph(c: char) -> [u8; 7] {
    match c {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'm' => [0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11],
        'p' => [0x00, 0x00, 0x1E, 0x11, 0x1E, 0x10, 0x10],
        'x' => [0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11],
        'i' => [0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E],
        'c' => [0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E],
        'e' => [0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E],
        _ => [0; 7],
    }
}

/// White text on a black box at (x, y), each font pixel drawn as a `scale`×`scale` square; clipped.
pub fn draw_text(img: &mut RgbImage, text: &str, x: u32, y: u32, scale: u32) {
    let n = text.chars().count() as u32;
    let (bw, bh) = ((6 * n + 1) * scale, 9 * scale);
    let mut put = |px: u32, py: u32, c: Rgb<u8>| {
        if px < img.width() && py < img.height() {
            img.put_pixel(px, py, c);
        }
    };
    for py in y..y + bh {
        for px in x..x + bw {
            put(px, py, Rgb([0, 0, 0]));
        }
    }
    for (i, c) in text.chars().enumerate() {
        let gx = x + scale + 6 * scale * i as u32;
        for (r, bits) in glyph(c).iter().enumerate() {
            for col in 0..5u32 {
                if bits & (0x10 >> col) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        put(
                            gx + col * scale + dx,
                            y + scale + r as u32 * scale + dy,
                            Rgb([255, 255, 255]),
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_label_is_a_line_of_its_own() {
        let img = GrayImage::from_pixel(64, 64, image::Luma([128]));
        let truth = GrayImage::new(64, 64);
        let one = row(&img, &truth, &truth, &["Dice 1.000".into()], 64);
        let two = row(
            &img,
            &truth,
            &truth,
            &["Dice 1.000".into(), "HD95 4.1 mm".into()],
            64,
        );
        // The overlay's first line alike; the second line's box only with a second label.
        let at = |r: &RgbImage, x: u32, y: u32| r.get_pixel(3 * 64 + x, y).0;
        assert_eq!(at(&one, 3, 3), [0, 0, 0]);
        assert_eq!(at(&two, 3, 3), [0, 0, 0]);
        assert_eq!(at(&one, 3, 14), [128, 128, 128]);
        assert_eq!(at(&two, 3, 14), [0, 0, 0]);
        assert_ne!(one, two);
        for c in "HD95 mm px".chars().filter(|c| *c != ' ') {
            assert_ne!(glyph(c), [0; 7], "{c}");
        }
    }
}
