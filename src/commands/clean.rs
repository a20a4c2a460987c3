//! `tumorseg clean`: report anomalies and write `_annotations.coco.cleaned.json` per split.
use crate::clean::{clean_dataset, format_details, format_table, CleanOptions};
use anyhow::Result;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Dataset root holding train/ valid/ test/, each with images and `_annotations.coco.json`.
    pub root: PathBuf,
    /// Keep images with more than one annotation and merge their polygons into one annotation
    /// (default: remove such images, as the seed did).
    #[arg(long)]
    pub keep_multi: bool,
    /// Comma-separated category ids that count as tumour; others are dropped (default: all).
    #[arg(long, value_delimiter = ',')]
    pub categories: Option<Vec<u64>>,
    /// Write the cleaned files (<out-dir>/<split>/_annotations.coco.cleaned.json) and
    /// clean_report.json here instead of into the dataset (for read-only datasets; later commands
    /// then need --annotations).
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// Comma-separated splits to clean (missing ones are skipped).
    #[arg(long, value_delimiter = ',', default_value = "train,valid,test")]
    pub splits: Vec<String>,
}

pub fn run(args: Args) -> Result<()> {
    let opts = CleanOptions {
        keep_multi: args.keep_multi,
        categories: args.categories,
        out_dir: args.out_dir.clone(),
        splits: args.splits,
    };
    let report = clean_dataset(&args.root, &opts)?;
    print!("{}", format_table(&report));
    for line in format_details(&report) {
        println!("{line}");
    }
    let out = args.out_dir.unwrap_or(args.root);
    println!("wrote {}", out.join("clean_report.json").display());
    Ok(())
}
