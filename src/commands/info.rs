//! `tumorseg info`: what this binary runs on, so a user can check CUDA before a long job.
use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Also build the model and print its parameter counts (total, encoder, decoder, head).
    #[arg(long)]
    pub model: bool,
}

pub fn run(args: Args) -> Result<()> {
    println!("tumorseg {}", env!("CARGO_PKG_VERSION"));
    println!("libtorch {}", libtorch_version());
    let cuda = tch::Cuda::is_available();
    println!("cuda available: {cuda}");
    if cuda {
        println!("cuda devices: {}", tch::Cuda::device_count());
        println!("cudnn available: {}", tch::Cuda::cudnn_is_available());
    }
    println!(
        "cpu threads (libtorch intra-op): {}",
        tch::get_num_threads()
    );
    println!(
        "cpu cores: {}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    if args.model {
        crate::model::print_parameter_counts();
    }
    Ok(())
}

/// tch 0.24 pins the libtorch it was built for; the runtime library may differ when LD_LIBRARY_PATH points elsewhere.
fn libtorch_version() -> String {
    "2.11.0 (tch 0.24 build target)".to_string()
}
