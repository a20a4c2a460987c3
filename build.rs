// Embed the libtorch directory as RUNPATH so `target/release/tumorseg` runs without LD_LIBRARY_PATH.
// RUNPATH (not RPATH) keeps LD_LIBRARY_PATH in charge, so a GPU machine can point at its own libtorch.
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=TUMORSEG_TORCH_LIB");
    let dir = std::env::var("TUMORSEG_TORCH_LIB").ok().or_else(|| {
        let out = Command::new("python3")
            .args([
                "-c",
                "import torch, os; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))",
            ])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    });
    if let Some(dir) = dir {
        println!("cargo:rustc-link-arg=-Wl,--enable-new-dtags,-rpath,{dir}");
        // Nothing in tch references torch_cuda's symbols, so an as-needed link drops it and libtorch
        // then never registers its CUDA backend: force the dependency when the wheel ships it.
        if std::path::Path::new(&dir).join("libtorch_cuda.so").exists() {
            println!("cargo:rustc-link-arg=-Wl,-L{dir},--no-as-needed,-ltorch_cuda,--as-needed");
        }
    }
}
