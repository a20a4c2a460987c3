// Embed the libtorch directory as RUNPATH so `target/release/tumorseg` runs without LD_LIBRARY_PATH.
// RUNPATH (not RPATH) keeps LD_LIBRARY_PATH in charge, so a GPU machine can point at its own libtorch.
// Also embed the git commit (TUMORSEG_BUILD) that every run's provenance records.
use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=TUMORSEG_TORCH_LIB");
    link_libtorch();
    embed_commit();
}

fn link_libtorch() {
    let dir = std::env::var("TUMORSEG_TORCH_LIB").ok().or_else(|| {
        // find_spec locates the package without importing it (importing torch takes seconds).
        let out = Command::new("python3")
            .args([
                "-c",
                "import importlib.util, os; s = importlib.util.find_spec('torch'); \
                 print(os.path.join(os.path.dirname(s.origin), 'lib'))",
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
        if Path::new(&dir).join("libtorch_cuda.so").exists() {
            println!("cargo:rustc-link-arg=-Wl,-L{dir},--no-as-needed,-ltorch_cuda,--as-needed");
        }
    }
}

/// `commit <12 hex>`, with `-dirty` when tracked sources differ from it; outside a git checkout, says so.
fn embed_commit() {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git").args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    // Rerun when HEAD moves (a checkout changes HEAD, a commit the branch's ref) or a source changes
    // (the dirty flag); a path that does not exist would make cargo rerun this script on every build,
    // so only existing ones are named.
    let mut watch: Vec<String> = ["src", "Cargo.toml", "Cargo.lock"]
        .map(String::from)
        .to_vec();
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        let branch = git(&["symbolic-ref", "-q", "HEAD"]);
        for f in ["HEAD", "index", "packed-refs"]
            .into_iter()
            .chain(branch.as_deref())
        {
            watch.push(format!("{dir}/{f}"));
        }
    }
    for p in watch.iter().filter(|p| Path::new(p).exists()) {
        println!("cargo:rerun-if-changed={p}");
    }
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).map_or("no git checkout".into(), |c| {
        let dirty = git(&[
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            "src",
            "Cargo.toml",
            "Cargo.lock",
            "build.rs",
        ])
        .is_some_and(|s| !s.is_empty());
        if dirty {
            format!("commit {c}-dirty")
        } else {
            format!("commit {c}")
        }
    });
    println!("cargo:rustc-env=TUMORSEG_BUILD={commit}");
}
