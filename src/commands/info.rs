//! `tumorseg info`: what this binary runs on, so a user can check CUDA before a long job.
use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Also build the model and print its parameter counts (total, encoder, decoder, head).
    #[arg(long)]
    pub model: bool,
}

pub fn run(args: Args) -> Result<()> {
    println!("tumorseg {}", crate::provenance::VERSION);
    println!("libtorch {}", crate::device::LIBTORCH);
    let cuda = tch::Cuda::is_available();
    println!("cuda available: {cuda}");
    if cuda {
        println!("cuda devices: {}", tch::Cuda::device_count());
        println!("cudnn available: {}", tch::Cuda::cudnn_is_available());
        for (i, name) in crate::device::gpu_names().iter().enumerate() {
            println!("gpu {i}: {name}");
        }
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
