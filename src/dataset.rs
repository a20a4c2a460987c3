//! A split (`<root>/<split>/`) as a list of samples: image path, size and the shapes of its mask.
//!
//! Which annotation file: `--annotations` if given, else `_annotations.coco.cleaned.json` when
//! `tumorseg clean` wrote one, else the original `_annotations.coco.json`.
use crate::coco::{self, Issue, IssueKind};
use crate::mask::{self, Segmentation};
use anyhow::{bail, Context, Result};
use image::GrayImage;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

mod annotations;
mod truncated;

pub use annotations::{
    annotation_file, annotations_name, is_file_name, SplitOptions, CLEANED_FROM,
};

pub const ORIGINAL: &str = "_annotations.coco.json";
pub const CLEANED: &str = "_annotations.coco.cleaned.json";
/// The split folders of a dataset root, in the order they are read and reported.
pub const SPLITS: [&str; 3] = ["train", "valid", "test"];

/// An image file as 8-bit luma: JPEG, PNG, TIFF, BMP or DICOM; grey, RGB(A), 16-bit or float; the
/// format is sniffed, not taken from the name. Deeper than 8 bits, the image's own range is stretched
/// to 0–255 (see [`to_luma8`]); DICOM goes through its own window (see [`crate::dicom`]).
pub fn read_gray(path: &Path) -> Result<GrayImage> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(to_luma8(&decode(&bytes, path)?))
}

/// An image file's bytes decoded: DICOM when its magic or its extension says so, else whatever raster
/// format the bytes are.
pub fn decode(bytes: &[u8], path: &Path) -> Result<image::DynamicImage> {
    if crate::dicom::is_dicom(bytes) || crate::dicom::has_dicom_extension(path) {
        return crate::dicom::decode(bytes)
            .with_context(|| format!("cannot decode {} as DICOM", path.display()));
    }
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .context("unreachable: reading from memory")?;
    let format = reader.format();
    let img = reader
        .decode()
        .with_context(|| format!("cannot decode {} (corrupt or unsupported)", path.display()))?;
    // Only after decoding: a cut the decoder noticed keeps the decoder's own reason.
    truncated::check(bytes, format).with_context(|| format!("{} is truncated", path.display()))?;
    Ok(img)
}

/// 8-bit images convert as they are. A 16-bit or float image (an MRI export that kept the scanner's
/// 12-bit values, say) maps its minimum to 0 and its maximum to 255: scaling 16 bits to 8 by 257
/// would leave a 12-bit image almost black, unlike the 8-bit slices the model was trained on.
pub fn to_luma8(img: &image::DynamicImage) -> GrayImage {
    let bits = 8 * img.color().bytes_per_pixel() / img.color().channel_count();
    if bits <= 8 {
        return img.to_luma8();
    }
    let deep = img.to_luma32f();
    let (lo, hi) = crate::window::min_max(deep.iter().copied());
    let grey = crate::window::grey(deep.iter().copied(), lo, hi);
    GrayImage::from_raw(deep.width(), deep.height(), grey).expect("one byte per pixel")
}

#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub id: u64,
    pub path: PathBuf,
    pub stem: String,
    pub width: u32,
    pub height: u32,
    pub segmentations: Vec<Segmentation>,
    /// mm between rows and between columns, when the annotation file gives it.
    pub spacing: Option<(f64, f64)>,
    /// mm between its volume's slices, when the annotation file gives it.
    pub slice_spacing: Option<f64>,
    /// Its volume and slice number, when it is a slice of one: the annotation file's `volume` and
    /// `slice_number`, else its name `<volume>_f<number>` (see [`slice_of`]).
    pub volume: Option<(String, u32)>,
}

/// A stem's volume and slice number, as from-nifti and predict name a volume's slices and from-seg
/// a multi-frame file's frames: `scan_f012` → (`scan`, 12).
pub fn slice_of(stem: &str) -> Option<(&str, u32)> {
    let (volume, number) = stem.rsplit_once("_f")?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((volume, number.parse().ok()?))
}

impl Sample {
    /// The image as luma (see [`read_gray`]); one of another size than its annotation entry says
    /// is an error: its polygons would not fit it, and scoring would compare masks of two sizes.
    pub fn load_gray(&self) -> Result<GrayImage> {
        let img = read_gray(&self.path).with_context(|| format!("image id {}", self.id))?;
        if img.dimensions() != (self.width, self.height) {
            bail!(
                "{} is {}×{} but its annotation entry (image id {}) says {}×{}: resized or cropped \
                 after annotating? (`tumorseg clean` removes such images)",
                self.path.display(),
                img.width(),
                img.height(),
                self.id,
                self.width,
                self.height
            );
        }
        Ok(img)
    }

    /// 0/1 mask at (width, height): the union of every annotation.
    pub fn mask(&self) -> GrayImage {
        mask::union(&self.segmentations, self.width, self.height)
    }

    /// 0/1 mask at `size`×`size`, polygons rasterised at that size (sharper than resizing the mask).
    pub fn mask_scaled(&self, width: u32, height: u32) -> GrayImage {
        let mut out = GrayImage::new(width, height);
        for s in &self.segmentations {
            let m = mask::rasterize_scaled(s, self.width, self.height, width, height);
            for (o, v) in out.iter_mut().zip(m.iter()) {
                *o |= *v;
            }
        }
        out
    }
}

/// What a split load skipped or repaired, on top of the COCO parser's issues.
#[derive(Clone, Debug, Default)]
pub struct SplitReport {
    pub annotation_file: PathBuf,
    pub issues: Vec<Issue>,
    /// Images listed in the JSON whose file does not exist (skipped).
    pub missing_files: Vec<(u64, PathBuf)>,
}

/// Load `<root>/<split>`; skipped or repaired entries are reported on stderr.
pub fn load_split(root: &Path, split: &str, opts: &SplitOptions) -> Result<Vec<Sample>> {
    let dir = root.join(split);
    if !dir.is_dir() {
        check_root(root)?;
    }
    load_split_dir(&dir, opts)
}

/// For a command that found no split under `root`: an error naming what is wrong when `root` does not
/// exist or is itself a split, given in place of its parent; a missing split of a real root is the
/// caller's to report.
pub fn check_root(root: &Path) -> Result<()> {
    if !root.exists() {
        bail!("{} does not exist", root.display());
    }
    if root.join(ORIGINAL).is_file() {
        bail!(
            "{} looks like a split, not a dataset root (it holds {ORIGINAL}): give its parent ({}) instead",
            root.display(),
            parent_dir(root).display()
        );
    }
    Ok(())
}

/// The folder holding `dir`, written so that it can be typed: `train` → `.`, `.` → `./..`.
fn parent_dir(dir: &Path) -> PathBuf {
    match dir.parent() {
        _ if dir.file_name().is_none() => dir.join(".."),
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Same as `load_split` for a split directory given directly (`tumorseg masks <split-dir>`).
pub fn load_split_dir(dir: &Path, opts: &SplitOptions) -> Result<Vec<Sample>> {
    let (samples, report) = load_split_report(dir, opts)?;
    print_report(&report);
    Ok(samples)
}

/// Load a split directory and return what was skipped instead of printing it.
pub fn load_split_report(dir: &Path, opts: &SplitOptions) -> Result<(Vec<Sample>, SplitReport)> {
    if dir.is_file() {
        bail!("{} is a file, not a split directory", dir.display());
    }
    if !dir.is_dir() {
        bail!("split directory {} does not exist", dir.display());
    }
    let ann_path = annotation_file(dir, opts);
    annotations::check_named(&ann_path, opts)?;
    let file = coco::load(&ann_path)?;
    annotations::check_fresh(&ann_path, &file.raw)?;
    if let Some(cats) = &opts.categories {
        check_categories(&file, cats, &ann_path)?;
    }
    let selected = |c: u64| opts.categories.as_ref().is_none_or(|cs| cs.contains(&c));
    let mut by_image: HashMap<u64, Vec<Segmentation>> = HashMap::new();
    for a in &file.annotations {
        if let (Some(seg), true) = (&a.segmentation, selected(a.category_id)) {
            by_image.entry(a.image_id).or_default().push(seg.clone());
        }
    }
    let mut report = SplitReport {
        annotation_file: ann_path,
        issues: file.issues,
        missing_files: Vec::new(),
    };
    let mut samples = Vec::with_capacity(file.images.len());
    for img in &file.images {
        let path = dir.join(&img.file_name);
        if !path.is_file() {
            report.missing_files.push((img.id, path));
            continue;
        }
        let stem = Path::new(&img.file_name)
            .file_stem()
            .map_or_else(|| img.id.to_string(), |s| s.to_string_lossy().into_owned());
        samples.push(Sample {
            id: img.id,
            path,
            width: img.width,
            height: img.height,
            segmentations: by_image.remove(&img.id).unwrap_or_default(),
            spacing: img.spacing,
            slice_spacing: img.slice_spacing,
            volume: img
                .volume
                .clone()
                .or_else(|| slice_of(&stem).map(|(v, n)| (v.to_string(), n))),
            stem,
        });
    }
    Ok((samples, report))
}

fn check_categories(file: &coco::CocoFile, wanted: &[u64], path: &Path) -> Result<()> {
    for c in wanted {
        if !file.categories.iter().any(|k| k.id == *c) {
            let known: Vec<String> = file.categories.iter().map(ToString::to_string).collect();
            bail!(
                "{}: --categories {c}: no such category id (the file has: {})",
                path.display(),
                known.join(", ")
            );
        }
    }
    Ok(())
}

/// One summary line per issue kind plus the first few details, so a big dataset does not flood.
pub fn print_report(r: &SplitReport) {
    const SHOW: usize = 5;
    let file = r.annotation_file.display();
    for (id, p) in r.missing_files.iter().take(SHOW) {
        eprintln!(
            "warning: {file}: image id {id}: file {} is missing: skipped",
            p.display()
        );
    }
    if r.missing_files.len() > SHOW {
        eprintln!(
            "warning: {file}: {} more missing image files skipped",
            r.missing_files.len() - SHOW
        );
    }
    for kind in [
        IssueKind::UnknownImage,
        IssueKind::BadAnnotation,
        IssueKind::Degenerate,
        IssueKind::Clamped,
        IssueKind::BboxOnly,
        IssueKind::NoAnnotations,
    ] {
        let of_kind: Vec<&Issue> = r.issues.iter().filter(|i| i.kind == kind).collect();
        for i in of_kind.iter().take(SHOW) {
            eprintln!("warning: {file}: {i}");
        }
        if of_kind.len() > SHOW {
            eprintln!(
                "warning: {file}: {} more {kind:?} issues",
                of_kind.len() - SHOW
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{DynamicImage, ImageBuffer, Luma};

    #[test]
    fn deep_images_are_stretched_from_their_minimum_to_their_maximum() {
        // 12-bit values 1000..=1000+16·255: 1000 → 0, the maximum → 255, linear between.
        let deep = ImageBuffer::<Luma<u16>, Vec<u16>>::from_fn(256, 1, |x, _| {
            Luma([1000 + 16 * x as u16])
        });
        let g = to_luma8(&DynamicImage::ImageLuma16(deep));
        assert!(g.iter().enumerate().all(|(i, &v)| v as usize == i), "{g:?}");
        // Scaling by 257 instead would leave 4080 at 15: almost black.
        // Float images too; a flat one becomes black rather than dividing by zero.
        let float = image::Rgb32FImage::from_fn(3, 1, |x, _| image::Rgb([x as f32 - 7.0; 3]));
        let f = to_luma8(&DynamicImage::ImageRgb32F(float));
        assert_eq!(f.as_raw(), &[0, 128, 255]);
        let flat = ImageBuffer::<Luma<u16>, Vec<u16>>::from_pixel(2, 2, Luma([500]));
        assert!(to_luma8(&DynamicImage::ImageLuma16(flat))
            .iter()
            .all(|&v| v == 0));
        // 8-bit images are left as they are, even when they do not span 0..255.
        let narrow = image::GrayImage::from_fn(4, 1, |x, _| Luma([100 + x as u8]));
        assert_eq!(to_luma8(&DynamicImage::ImageLuma8(narrow.clone())), narrow);
    }

    #[test]
    fn a_missing_root_or_a_split_given_for_its_root_is_named_for_what_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        std::fs::create_dir_all(root.join("train")).unwrap();
        std::fs::write(root.join("train").join(ORIGINAL), "{}").unwrap();
        let why = |root: &Path| {
            format!(
                "{:#}",
                load_split(root, "test", &SplitOptions::default()).unwrap_err()
            )
        };
        let nope = dir.path().join("nope");
        assert_eq!(why(&nope), format!("{} does not exist", nope.display()));
        let split = root.join("train");
        assert_eq!(
            why(&split),
            format!(
                "{} looks like a split, not a dataset root (it holds {ORIGINAL}): give its parent ({}) instead",
                split.display(),
                root.display()
            )
        );
        // A real root without the split asked for: that split is what is missing.
        assert_eq!(
            why(&root),
            format!(
                "split directory {} does not exist",
                root.join("test").display()
            )
        );
        // Relative paths as typed.
        let parents =
            ["data/train", "train", "data/train/", ".", "../x"].map(|p| parent_dir(Path::new(p)));
        assert_eq!(
            parents.map(|p| p.display().to_string()),
            ["data", ".", "data", "./..", ".."]
        );
    }
}
