//! `tumorseg masks`: one 0/255 PNG per image of a split, named after the image's stem.
use crate::dataset::{load_split_report, print_report, Sample, SplitOptions, SplitReport};
use anyhow::{bail, ensure, Context, Result};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Split directory (e.g. data/train) with images and its annotation file.
    pub split_dir: PathBuf,
    /// Output directory for the mask PNGs (created if needed; not the split directory itself). One
    /// that is not empty is refused unless --overwrite, so that the masks of two splits never mix.
    #[arg(long)]
    pub out: PathBuf,
    /// Annotation file to use instead of the split's cleaned/original one.
    #[arg(long)]
    pub annotations: Option<PathBuf>,
    /// Comma-separated category ids that count as tumour (default: all).
    #[arg(long, value_delimiter = ',')]
    pub categories: Option<Vec<u64>>,
    /// Replace the masks an earlier run wrote to --out: they are removed once the split has been
    /// read, before the new ones are written. Only a folder that holds nothing but masks (0/255 grey
    /// PNGs, as this command writes them) is emptied; one holding anything else is refused with
    /// nothing removed.
    #[arg(long)]
    pub overwrite: bool,
}

pub fn run(args: Args) -> Result<()> {
    let opts = SplitOptions {
        annotations: args.annotations,
        categories: args.categories,
    };
    let (samples, report) = load_split_report(&args.split_dir, &opts)?;
    print_report(&report);
    refuse_no_images(&samples, &report, &args.split_dir)?;
    crate::atomic::ensure_folder_or_new(&args.out, "--out")?;
    refuse_the_split_itself(&args.split_dir, &args.out)?;
    refuse_shared_stems(&samples)?;
    let earlier = earlier_masks(&args.out, args.overwrite)?;
    for path in &earlier {
        std::fs::remove_file(path).with_context(|| format!("remove {}", path.display()))?;
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    samples.par_iter().try_for_each(|s| -> Result<()> {
        let mut m = s.mask();
        m.iter_mut().for_each(|v| *v *= 255);
        let path = args.out.join(format!("{}.png", s.stem));
        m.save(&path)
            .with_context(|| format!("image id {}: cannot write {}", s.id, path.display()))
    })?;
    let replaced = match earlier.len() {
        0 => String::new(),
        n => format!(" (replacing {})", crate::report::count(n, "earlier mask")),
    };
    println!(
        "wrote {} masks to {}{replaced}",
        samples.len(),
        args.out.display()
    );
    Ok(())
}

/// A split without one image on disk (say, another split's `--annotations`) is a mistake, not an
/// empty set of masks: a script would go on with nothing.
fn refuse_no_images(samples: &[Sample], report: &SplitReport, split_dir: &Path) -> Result<()> {
    let file = report.annotation_file.display();
    match (samples.is_empty(), report.missing_files.len()) {
        (false, _) => Ok(()),
        (true, 0) => bail!("{file} lists no images: no mask written"),
        (true, n) => bail!(
            "none of the {} {file} lists is in {}: no mask written (is it another split's \
             annotation file?)",
            crate::report::count(n, "image"),
            split_dir.display()
        ),
    }
}

/// Masks named `<stem>.png` among the split's images would be mistaken for images, and would
/// replace its PNG images of the same stem.
fn refuse_the_split_itself(split_dir: &Path, out: &Path) -> Result<()> {
    let same = match (split_dir.canonicalize(), out.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    ensure!(
        !same,
        "--out {} is the split directory itself: the masks (<image stem>.png) would sit among its \
         images and replace PNG ones; give another directory",
        out.display()
    );
    Ok(())
}

/// Two images of one stem (`a.jpg`, `a.png`; or `A.jpg`, `a.png`, one file on macOS and Windows)
/// would write one mask over the other. As `predict` does for its inputs, they are refused rather
/// than renamed: evaluate finds a mask by its image's stem, so any other name would not be found.
fn refuse_shared_stems(samples: &[Sample]) -> Result<()> {
    if let Some((images, png)) = crate::names::shared_png(samples) {
        bail!(
            "{images} would both be masked as {png}: masks are named by the image's stem; nothing \
             written"
        );
    }
    Ok(())
}

/// The files in `out` to remove before writing: none when it is new or empty; with `overwrite`, its
/// masks, when masks are all it holds; else an error, so that no file of the user's is removed and
/// no earlier mask stays beside the new ones.
fn earlier_masks(out: &Path, overwrite: bool) -> Result<Vec<PathBuf>> {
    let Ok(entries) = std::fs::read_dir(out) else {
        return Ok(Vec::new());
    };
    let mut there: Vec<PathBuf> = entries
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("read {}", out.display()))?;
    if !overwrite {
        crate::atomic::ensure_new_dir(out)
            .map_err(|e| anyhow::anyhow!("{e}, or --overwrite to replace the masks there"))?;
    }
    there.sort();
    if let Some(other) = there.iter().find(|p| !is_mask(p)) {
        bail!(
            "--overwrite: {} holds {}, which is not a mask (a 0/255 grey PNG): nothing removed; give \
             a new directory",
            out.display(),
            other.display()
        );
    }
    Ok(there)
}

/// A file this command could have written: a `.png` of 8-bit grey, every pixel 0 or 255.
fn is_mask(path: &Path) -> bool {
    let png = path.is_file() && path.extension().is_some_and(|e| e == "png");
    match png.then(|| image::open(path)) {
        Some(Ok(image::DynamicImage::ImageLuma8(g))) => g.iter().all(|&v| v == 0 || v == 255),
        _ => false,
    }
}
