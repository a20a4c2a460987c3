//! `tumorseg pack`: shrink a dataset for transport (e.g. to a GPU machine with a size limit).
use anyhow::Result;
use std::path::PathBuf;

use crate::pack::{pack_dataset, PackOptions};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Dataset root with train/ valid/ test/ (each with `_annotations.coco.json`).
    pub root: PathBuf,
    /// Output dataset root: a new or empty directory (created), never the input root; nothing is
    /// overwritten.
    #[arg(long)]
    pub out: PathBuf,
    /// Resize so the longest side is at most this many pixels, at least 32 (polygons are scaled to
    /// match).
    #[arg(long, default_value_t = 640)]
    pub size: u32,
    /// JPEG quality of the re-encoded grey images (1-100).
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub quality: u8,
}

pub fn run(args: Args) -> Result<()> {
    let splits = pack_dataset(
        &args.root,
        &args.out,
        &PackOptions {
            size: args.size,
            quality: args.quality,
        },
    )?;
    let mut total = 0;
    for s in &splits {
        println!(
            "{:<6} {:>5} images {:>8.1} MiB",
            s.split,
            s.images,
            s.bytes as f64 / 1048576.0
        );
        total += s.bytes;
    }
    println!(
        "total  {:>14.1} MiB  → {}",
        total as f64 / 1048576.0,
        args.out.display()
    );
    Ok(())
}
