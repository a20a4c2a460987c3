//! Helpers shared by the integration tests: the repository root and the venv's Python, used to
//! generate reference outputs (pycocotools, segmentation_models_pytorch, torchvision) at test time.
#![allow(dead_code)]
use std::path::PathBuf;
use std::process::Command;

pub mod dicom;
pub mod nifti;
pub mod pred_masks;
pub mod tiny_coco;
pub mod training;

/// libtorch's random seed is process-global: tests of one file that seed and then draw (model
/// initialisation, random inputs) take turns, or one would draw from another's stream.
pub fn seeded_turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture() -> PathBuf {
    root().join("tests/fixtures/brain-tumor-mini")
}

/// predict's predictions.csv, each row by column name, in file order.
pub fn predictions(out: &std::path::Path) -> Vec<std::collections::HashMap<String, String>> {
    csv::Reader::from_path(out.join("predictions.csv"))
        .unwrap()
        .deserialize()
        .map(Result::unwrap)
        .collect()
}

/// The highest tumour probability of any image in a predict output folder's predictions.csv.
pub fn highest_probability(out: &std::path::Path) -> f32 {
    predictions(out)
        .iter()
        .map(|r| r["max_probability"].parse::<f32>().unwrap())
        .fold(0f32, f32::max)
}

/// A copy of the fixture's `split` (images and annotation file) in `root/split`.
pub fn copy_fixture_split(root: &std::path::Path, split: &str) {
    std::fs::create_dir_all(root.join(split)).unwrap();
    for e in std::fs::read_dir(fixture().join(split)).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), root.join(split).join(e.file_name())).unwrap();
    }
}

/// A copy of the fixture's test split in `dir/spaced/test`, every image given `pixel_spacing`
/// (mm between rows, between columns), as from-nifti and from-seg write it; returns the root.
pub fn spaced_test_split(dir: &std::path::Path, (rows, columns): (f64, f64)) -> PathBuf {
    let root = dir.join("spaced");
    copy_fixture_split(&root, "test");
    let ann = root.join("test/_annotations.coco.json");
    let text = std::fs::read_to_string(&ann).unwrap();
    let mut coco: serde_json::Value =
        serde_json::from_str(text.trim_start_matches('\u{feff}')).unwrap();
    for image in coco["images"].as_array_mut().unwrap() {
        image["pixel_spacing"] = serde_json::json!([rows, columns]);
    }
    std::fs::write(&ann, coco.to_string()).unwrap();
    root
}

/// The fixture's test JPEGs, sorted.
pub fn test_jpgs() -> Vec<PathBuf> {
    let mut jpgs: Vec<PathBuf> = std::fs::read_dir(fixture().join("test"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    jpgs.sort();
    jpgs
}

/// The venv's interpreter (`TUMORSEG_PYTHON` overrides): the tests need its torch/smp/pycocotools.
pub fn python() -> PathBuf {
    std::env::var_os("TUMORSEG_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"))
}

/// Run `tests/py/<script>` with arguments; panics with its stderr if it fails.
pub fn run_py(script: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(root().join("tests/py").join(script))
        .args(args)
        .output()
        .expect("run the venv python (make setup)");
    assert!(
        out.status.success(),
        "{script} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run a command that must succeed; on failure the panic shows the command and both its outputs.
pub fn run_ok(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().expect("start the command");
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Run a command that must fail; returns its stderr (the panic shows it, should it succeed).
pub fn run_err(cmd: &mut Command) -> String {
    let out = cmd.output().expect("start the command");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{cmd:?} succeeded:\n{stderr}");
    stderr
}

/// The built CLI (cargo builds it for integration tests).
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tumorseg"))
}

/// `tumorseg COMMAND INPUT --out OUT`, for the commands that read one path and write another
/// (pack, export); callers add their options.
pub fn into(command: &str, input: &std::path::Path, out: &std::path::Path) -> Command {
    let mut cmd = bin();
    cmd.arg(command).arg(input).arg("--out").arg(out);
    cmd
}

/// A deterministic grey test pattern (diagonal stripes), any size.
pub fn gradient(w: u32, h: u32) -> image::GrayImage {
    image::GrayImage::from_fn(w, h, |x, y| image::Luma([((x * 7 + y * 13) % 256) as u8]))
}

/// SHA-256 of a file, lowercase hex (what `sha256sum` prints).
pub fn sha256(path: &std::path::Path) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// The stdout of `tumorseg ARGS`, which must succeed.
pub fn stdout(args: &[&str]) -> String {
    let o = run_ok(bin().args(args));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A JSON file, parsed.
pub fn json(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The input of a provenance record with this role.
pub fn input<'a>(record: &'a serde_json::Value, role: &str) -> &'a serde_json::Value {
    record["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["role"] == role)
        .unwrap_or_else(|| panic!("no {role:?} input in {record}"))
}

/// An untrained U-Net++ (seeded) saved as a run directory at size 64 on the fixture, for the inference
/// commands. It takes the seeded turn: another test of the same process seeding and drawing between
/// the seed and the initialisation made a different model (one that marked every pixel).
pub fn fake_run(dir: &std::path::Path) -> PathBuf {
    fake_run_with(dir, 7, 64)
}

/// [`fake_run`] of another model (`seed`) or size.
pub fn fake_run_with(dir: &std::path::Path, seed: i64, size: u32) -> PathBuf {
    fake_run_on(dir, seed, size, &fixture())
}

/// [`fake_run_with`], its config.toml saying it was trained on `dataset`.
pub fn fake_run_on(
    dir: &std::path::Path,
    seed: i64,
    size: u32,
    dataset: &std::path::Path,
) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let _turn = seeded_turn();
    tch::manual_seed(seed);
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let _model = tumorseg::model::unetpp::UnetPlusPlus::new(&vs.root());
    tumorseg::checkpoint::save_model(&vs, &dir.join(tumorseg::checkpoint::BEST)).unwrap();
    let cfg = tumorseg::train::TrainConfig {
        size,
        dataset: dataset.to_path_buf(),
        ..tumorseg::train::TrainConfig::default()
    };
    std::fs::write(
        dir.join(tumorseg::checkpoint::CONFIG),
        cfg.to_toml().unwrap(),
    )
    .unwrap();
    dir.to_path_buf()
}
