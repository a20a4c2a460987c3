//! `tumorseg clean`: report anomalies and write `_annotations.coco.cleaned.json` per split.
use crate::clean::{clean_dataset, CleanOptions, CleanReport};
use anyhow::Result;
use std::collections::BTreeSet;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Dataset root holding train/ valid/ test/, each with images and `_annotations.coco.json`.
    pub root: PathBuf,
    /// Keep images with more than one annotation and merge their polygons into one annotation
    /// (default: remove such images, as the seed did).
    #[arg(long)]
    pub keep_multi: bool,
    /// Keep images without any annotation as tumour-free (slices a SEG or label volume found empty,
    /// as `from-seg` and `from-nifti --keep-empty` write them), instead of removing them as the seed
    /// did; images whose annotations are all unusable are removed all the same.
    #[arg(long)]
    pub keep_empty: bool,
    /// Comma-separated category ids that count as tumour; others are dropped (default: all).
    #[arg(long, value_delimiter = ',')]
    pub categories: Option<Vec<u64>>,
    /// Write the cleaned files (<out-dir>/<split>/_annotations.coco.cleaned.json) and
    /// clean_report.json here instead of into the dataset, to read the anomalies of a read-only
    /// dataset. To train and evaluate on it cleaned, run `tumorseg pipeline`, which mirrors the
    /// dataset into its run directory and cleans it there (other commands read each split's
    /// annotations from the dataset root).
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// Clean this annotation file of each split instead of `_annotations.coco.json` (a file name,
    /// read in each split folder); the result is `_annotations.coco.cleaned.json` all the same.
    #[arg(long, value_name = "NAME", value_parser = crate::dataset::annotations_name)]
    pub annotations: Option<PathBuf>,
    /// Comma-separated splits to clean (missing ones are skipped).
    #[arg(long, value_delimiter = ',', default_value = "train,valid,test")]
    pub splits: Vec<String>,
    /// Report ("similar") images whose 32×32 grey thumbnails correlate at least this much with an image
    /// of another split: neighbouring slices of one scan split apart, which probably makes valid/test
    /// scores optimistic. Reported, never removed.
    #[arg(long, value_name = "R", default_value_t = crate::clean::similar::DEFAULT_THRESHOLD,
          value_parser = correlation)]
    pub similar_above: f32,
    /// Skip the similarity check (it compares every pair of images: quadratic in their number).
    #[arg(long)]
    pub no_similar: bool,
}

pub fn run(args: Args) -> Result<()> {
    for split in &args.splits {
        // A mistyped name (`vaild`) was skipped as silently as a split the dataset lacks.
        if !crate::dataset::SPLITS.contains(&split.as_str()) && !args.root.join(split).is_dir() {
            eprintln!(
                "warning: --splits {split}: {} has no such split folder (skipped)",
                args.root.display()
            );
        }
    }
    let opts = CleanOptions {
        keep_multi: args.keep_multi,
        keep_empty: args.keep_empty,
        categories: args.categories,
        out_dir: args.out_dir.clone(),
        splits: args.splits,
        input: (args.annotations).unwrap_or_else(|| crate::dataset::ORIGINAL.into()),
        similar_above: (!args.no_similar).then_some(args.similar_above),
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

/// The per-split table `tumorseg clean` prints.
pub fn format_table(r: &CleanReport) -> String {
    let cols = [
        "images", "anns", "no_ann", "multi", "missing", "corrupt", "size≠", "degen", "dups",
        "leaked", "similar", "kept", "removed",
    ];
    let mut out = format!("{:<8}", "split");
    for c in cols {
        out += &format!("{c:>9}");
    }
    out.push('\n');
    for (name, s) in &r.splits {
        out += &format!("{name:<8}");
        let vals = [
            s.images,
            s.annotations,
            s.no_annotation,
            s.multi_annotation,
            s.missing,
            s.corrupt,
            s.wrong_size,
            s.degenerate,
            s.duplicates,
            s.leaked,
            s.similar,
            s.kept,
            s.removed_ids.len(),
        ];
        for v in vals {
            out += &format!("{v:>9}");
        }
        out.push('\n');
    }
    out
}

/// Leakage and duplicate details, one line each (empty when there are none); near-identical images
/// as a count per split and a few examples (all of them are in clean_report.json).
pub fn format_details(r: &CleanReport) -> Vec<String> {
    let mut lines = BTreeSet::new();
    let similar: Vec<String> = r
        .splits
        .iter()
        .filter(|(_, s)| s.similar > 0)
        .map(|(name, s)| format!("{} {name}", s.similar))
        .collect();
    if !similar.is_empty() {
        lines.insert(format!(
            "similar: {} images have a near-identical image in another split, likely a neighbouring \
             slice of the same scan (scores on those splits are probably optimistic); all pairs are in \
             clean_report.json, for example:",
            similar.join(", ")
        ));
        for (name, s) in &r.splits {
            for (a, b, c) in s.similar_files.iter().take(2) {
                lines.insert(format!("similar: {name}/{a} ~ {b} ({c:.3})"));
            }
        }
    }
    for (name, s) in &r.splits {
        for g in &s.duplicate_files {
            lines.insert(format!("duplicate in {name}: {}", g.join(" = ")));
        }
        for (a, b) in &s.leaked_files {
            lines.insert(format!("leak: {name}/{a} = {b}"));
        }
        if s.kept_empty > 0 {
            lines.insert(format!(
                "{name}: {} without any annotation kept as tumour-free (--keep-empty)",
                crate::report::count(s.kept_empty, "image")
            ));
        }
        if !s.removed.is_empty() {
            lines.insert(format!(
                "{name}: removed {} (all in clean_report.json)",
                crate::report::some_of(&s.removed, 10)
            ));
        }
    }
    lines.into_iter().collect()
}

/// A correlation threshold: in (0, 1] (above 1 nothing is ever similar, at 0 or below everything).
fn correlation(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(r) if r > 0.0 && r <= 1.0 => Ok(r),
        _ => Err(format!("{text} is not a correlation in (0, 1]")),
    }
}
