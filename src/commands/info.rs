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
        for (i, name) in gpu_names().iter().enumerate() {
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

/// tch exposes no device-properties call; the NVIDIA driver publishes each GPU's model under /proc.
fn gpu_names() -> Vec<String> {
    let Ok(dirs) = std::fs::read_dir("/proc/driver/nvidia/gpus") else {
        return vec![];
    };
    let mut names: Vec<(String, String)> = dirs
        .filter_map(|d| {
            let d = d.ok()?;
            let info = std::fs::read_to_string(d.path().join("information")).ok()?;
            let model = info.lines().find_map(|l| l.strip_prefix("Model:"))?;
            Some((
                d.file_name().to_string_lossy().into_owned(),
                model.trim().to_string(),
            ))
        })
        .collect();
    names.sort();
    names.into_iter().map(|(_, m)| m).collect()
}

/// tch 0.24 pins the libtorch it was built for; the runtime library may differ when LD_LIBRARY_PATH points elsewhere.
fn libtorch_version() -> String {
    "2.11.0 (tch 0.24 build target)".to_string()
}
