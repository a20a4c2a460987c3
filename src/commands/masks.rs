//! `tumorseg masks`: one 0/255 PNG per image of a split, named after the image's stem.
use crate::dataset::{load_split_dir, SplitOptions};
use anyhow::{ensure, Context, Result};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Split directory (e.g. data/train) with images and its annotation file.
    pub split_dir: PathBuf,
    /// Output directory for the mask PNGs (created if needed; not the split directory itself).
    #[arg(long)]
    pub out: PathBuf,
    /// Annotation file to use instead of the split's cleaned/original one.
    #[arg(long)]
    pub annotations: Option<PathBuf>,
    /// Comma-separated category ids that count as tumour (default: all).
    #[arg(long, value_delimiter = ',')]
    pub categories: Option<Vec<u64>>,
}

pub fn run(args: Args) -> Result<()> {
    let opts = SplitOptions {
        annotations: args.annotations,
        categories: args.categories,
    };
    let samples = load_split_dir(&args.split_dir, &opts)?;
    refuse_the_split_itself(&args.split_dir, &args.out)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    samples.par_iter().try_for_each(|s| -> Result<()> {
        let mut m = s.mask();
        m.iter_mut().for_each(|v| *v *= 255);
        let path = args.out.join(format!("{}.png", s.stem));
        m.save(&path)
            .with_context(|| format!("image id {}: cannot write {}", s.id, path.display()))
    })?;
    println!("wrote {} masks to {}", samples.len(), args.out.display());
    Ok(())
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
