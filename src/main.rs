use clap::{Parser, Subcommand};
use tumorseg::commands;

/// Segment brain tumours in MRI slices: clean a COCO dataset, train U-Net++/ResNet34 on libtorch,
/// tune the threshold, evaluate, visualise and predict.
#[derive(Parser)]
#[command(name = "tumorseg", version = tumorseg::provenance::VERSION, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Version, libtorch, CUDA device and threads (and the model's parameter counts with --model).
    Info(commands::info::Args),
    /// Find anomalies in a COCO dataset and write `_annotations.coco.cleaned.json` per split.
    Clean(commands::clean::Args),
    /// Rasterise a split's annotations into one 0/255 PNG mask per image.
    Masks(commands::masks::Args),
    /// Train U-Net++/ResNet34 on a dataset root (train/ and valid/ splits).
    Train(commands::train::Args),
    /// Search the probability threshold that maximises mean Dice on the valid split.
    TuneThreshold(commands::tune_threshold::Args),
    /// Score a trained run (or a folder of predicted masks) on a split.
    Evaluate(commands::evaluate::Args),
    /// Compare two evaluations of one split image by image: is B better than A beyond chance?
    Compare(commands::compare::Args),
    /// Draw MRI | ground truth | prediction | overlay rows as PNG.
    Visualize(commands::visualize::Args),
    /// Predict masks, overlays and COCO results for new images.
    Predict(commands::predict::Args),
    /// clean → train → tune-threshold → evaluate → visualize in one run directory.
    Pipeline(Box<commands::pipeline::Args>),
    /// Throughput benchmarks: augmentation, training step, inference.
    Bench(commands::bench::Args),
    /// A trained run as a TorchScript module (PyTorch, libtorch) or an ONNX model (ONNX Runtime,
    /// TensorRT, OpenVINO), checked against tumorseg's own probabilities.
    Export(commands::export::Args),
    /// Several trained runs as one model (their mean probability), for every inference command.
    Ensemble(commands::ensemble::Args),
    /// Re-encode a dataset into a compact copy (resized JPEGs, same COCO layout).
    Pack(commands::pack::Args),
    /// Make a COCO split from DICOM slices and the DICOM SEG objects drawn on them.
    FromSeg(commands::from_seg::Args),
    /// Make a COCO split from NIfTI volumes and their label volumes (BraTS-style image + seg pairs).
    FromNifti(commands::from_nifti::Args),
}

fn main() {
    // Behave like other Unix tools when piped into `head`: exit quietly instead of panicking on EPIPE.
    // SAFETY: setting a signal disposition at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    commands::keep_freed_memory();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info(a) => commands::info::run(a),
        Command::Clean(a) => commands::clean::run(a),
        Command::Masks(a) => commands::masks::run(a),
        Command::Train(a) => commands::train::run(a),
        Command::TuneThreshold(a) => commands::tune_threshold::run(a),
        Command::Evaluate(a) => commands::evaluate::run(a),
        Command::Compare(a) => commands::compare::run(a),
        Command::Visualize(a) => commands::visualize::run(a),
        Command::Predict(a) => commands::predict::run(a),
        Command::Pipeline(a) => commands::pipeline::run(*a),
        Command::Bench(a) => commands::bench::run(a),
        Command::Ensemble(a) => commands::ensemble::run(a),
        Command::Pack(a) => commands::pack::run(a),
        Command::Export(a) => commands::export::run(a),
        Command::FromSeg(a) => commands::from_seg::run(a),
        Command::FromNifti(a) => commands::from_nifti::run(a),
    };
    if let Err(e) = result {
        if let Some(stop) = e.downcast_ref::<tumorseg::train::interrupt::Interrupted>() {
            // Not eprintln!: after SIGHUP the terminal may be gone, and the status must still come.
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "{stop}");
            std::process::exit(stop.status);
        }
        eprintln!("error: {}", commands::error_chain(&e));
        std::process::exit(1);
    }
}
