//! Equivalence with segmentation_models_pytorch 0.6.0: same parameter count, smp's state dict
//! loads by key name (.safetensors and .pth), and the eval-mode output matches smp's.
mod common;
use std::collections::HashMap;
use tch::nn::{ModuleT, VarStore};
use tch::{Device, Tensor};
use tumorseg::model::{parameter_counts, unetpp::UnetPlusPlus};
use tumorseg::weights;

fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    let diff = (a - b).abs().max().double_value(&[]);
    diff / b.abs().max().double_value(&[])
}

fn smp_output(vs: &VarStore, model: &UnetPlusPlus, io: &std::path::Path) -> (Tensor, Tensor) {
    let t: HashMap<_, _> = Tensor::read_safetensors(io).unwrap().into_iter().collect();
    let _ = vs;
    let y = tch::no_grad(|| model.forward_t(&t["input"], false));
    (y, t["output"].shallow_clone())
}

#[test]
fn parameter_counts_match_smp() {
    let vs = VarStore::new(Device::Cpu);
    let _m = UnetPlusPlus::new(&vs.root());
    let c = parameter_counts(&vs);
    assert_eq!(c.total, 26_078_609);
    assert_eq!(c.encoder, 21_284_672);
    assert_eq!(c.head, 16 * 9 + 1);
    assert_eq!(c.encoder + c.decoder + c.head, c.total);
}

#[test]
fn smp_state_dict_loads_and_output_matches() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::run_py("model_reference.py", &["smp", dir.path().to_str().unwrap()]);
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["26078609", "21284672"]
    );
    let io = dir.path().join("smp_io.safetensors");
    for file in ["smp_state.safetensors", "smp_state.pth"] {
        let mut vs = VarStore::new(Device::Cpu);
        let mut model = UnetPlusPlus::new(&vs.root());
        // Every key of smp's state dict, buffers included, is a variable here and vice versa.
        let src = weights::read_state_dict(&dir.path().join(file)).unwrap();
        let mut ours: Vec<String> = vs.variables().into_keys().collect();
        let mut theirs: Vec<String> = src.into_keys().collect();
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs, "{file}: key sets differ");
        weights::load_smp(&mut vs, &dir.path().join(file)).unwrap();
        let (y, want) = smp_output(&vs, &model, &io);
        assert_eq!(y.size(), [1, 1, 64, 64]);
        let e = rel_err(&y, &want);
        println!("{file}: max relative error vs smp = {e:.3e}");
        assert!(e <= 1e-4, "{file}: relative error {e}");
        // Inference folds the batch norms into the convolutions: the same output to rounding.
        model.fold_batch_norms();
        let (folded, _) = smp_output(&vs, &model, &io);
        let e = rel_err(&folded, &want);
        println!("{file}: folded batch norms, max relative error vs smp = {e:.3e}");
        assert!(e <= 1e-4, "{file}: folded, relative error {e}");
        // Different rounding shows that the folded convolutions, not the batch norms, ran.
        let moved = (&folded - &y).abs().max().double_value(&[]);
        assert!(moved > 0.0, "{file}: folding changed no output bit");
    }
    folded_under_autocast_matches(&dir.path().join("smp_state.safetensors"), &io);
    train_mode_matches(&dir.path().join("smp_state.safetensors"), &io);
}

/// smp's reference tensors by name, and our model holding smp's state dict.
fn smp_model(
    state: &std::path::Path,
    io: &std::path::Path,
) -> (HashMap<String, Tensor>, VarStore, UnetPlusPlus) {
    let t = Tensor::read_safetensors(io).unwrap().into_iter().collect();
    let mut vs = VarStore::new(Device::Cpu);
    let model = UnetPlusPlus::new(&vs.root());
    weights::load_smp(&mut vs, state).unwrap();
    (t, vs, model)
}

/// Under bf16 autocast (the CPU's half precision; CUDA runs fp16 the same way) the folded model's
/// output stays as close to smp's fp32 output as the unfolded model's does.
fn folded_under_autocast_matches(state: &std::path::Path, io: &std::path::Path) {
    use tumorseg::device::{autocast, Precision};
    let (t, _vs, mut model) = smp_model(state, io);
    let run = |m: &UnetPlusPlus| {
        tch::no_grad(|| {
            autocast(Device::Cpu, Precision::Bf16, || {
                m.forward_t(&t["input"], false)
            })
        })
        .to_kind(tch::Kind::Float)
    };
    let unfolded = rel_err(&run(&model), &t["output"]);
    model.fold_batch_norms();
    let folded = rel_err(&run(&model), &t["output"]);
    println!("bf16 autocast: relative error vs smp {unfolded:.3e} unfolded, {folded:.3e} folded");
    assert!(unfolded < 0.1, "bf16 unfolded: relative error {unfolded}");
    assert!(
        folded <= unfolded * 1.5,
        "bf16 folded {folded} against unfolded {unfolded}"
    );
}

/// Train-mode forward (batch statistics) and the running-statistics update match smp's.
fn train_mode_matches(state: &std::path::Path, io: &std::path::Path) {
    let (t, vs, mut model) = smp_model(state, io);
    // Folding is for eval-mode forwards: training mode still normalises with batch statistics.
    model.fold_batch_norms();
    let y = tch::no_grad(|| model.forward_t(&t["train_input"], true));
    let e = rel_err(&y, &t["train_output"]);
    println!("train mode: max relative error vs smp = {e:.3e}");
    assert!(e <= 1e-4, "train-mode relative error {e}");
    let vars = vs.variables();
    for (ours, theirs) in [
        ("decoder.blocks.x_0_3.conv2.1.running_mean", "train_bn_mean"),
        ("encoder.layer4.2.bn2.running_var", "train_bn_var"),
    ] {
        let e = rel_err(&vars[ours], &t[theirs]);
        assert!(e <= 1e-4, "{ours}: relative error {e}");
    }
}

#[test]
fn load_smp_lists_missing_and_unexpected_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("partial.safetensors");
    let a = Tensor::zeros([64, 3, 7, 7], (tch::Kind::Float, Device::Cpu));
    let b = Tensor::zeros([3], (tch::Kind::Float, Device::Cpu));
    Tensor::write_safetensors(
        &[("encoder.conv1.weight", &a), ("decoder.bogus.weight", &b)],
        &path,
    )
    .unwrap();
    let mut vs = VarStore::new(Device::Cpu);
    let _m = UnetPlusPlus::new(&vs.root());
    let err = format!("{:#}", weights::load_smp(&mut vs, &path).unwrap_err());
    assert!(err.contains("partial.safetensors"), "{err}");
    assert!(
        err.contains("unexpected keys (1): decoder.bogus.weight"),
        "{err}"
    );
    assert!(err.contains("missing keys ("), "{err}");
    assert!(
        err.contains("segmentation_head.0.weight") || err.contains("more"),
        "{err}"
    );
    // a missing file is named too
    let err = format!(
        "{:#}",
        weights::load_smp(&mut vs, &dir.path().join("nope.pth")).unwrap_err()
    );
    assert!(
        err.contains("nope.pth") && err.contains("does not exist"),
        "{err}"
    );
}

#[test]
fn bench_runs_real_train_steps_on_cpu() {
    use tumorseg::device::Precision;
    use tumorseg::model::bench::{bench_infer, bench_train, BenchConfig};
    let cfg = BenchConfig {
        size: 32,
        batch: 2,
        precision: Precision::Fp32,
        device: Device::Cpu,
        steps: 2,
        channels_last: true,
        ema: None,
        fold_batch_norms: true,
    };
    let r = bench_train(&cfg).unwrap();
    assert_eq!((r.mode, r.steps, r.batch), ("train", 2, 2));
    let with_ema = bench_train(&BenchConfig {
        ema: Some(0.9),
        ..cfg
    })
    .unwrap();
    assert!(with_ema.to_string().contains("ema 0.9"), "{with_ema}");
    assert!(r.median_ms > 0.0 && r.min_ms <= r.median_ms);
    assert!((r.images_per_s - 2000.0 / r.median_ms).abs() < 1e-9);
    let r = bench_infer(&cfg).unwrap();
    assert_eq!((r.mode, r.folded), ("infer", Some(true)));
    let unfolded = bench_infer(&BenchConfig {
        fold_batch_norms: false,
        ..cfg
    })
    .unwrap();
    assert!(unfolded.to_string().contains(" unfolded:"), "{unfolded}");
    assert_eq!(bench_train(&cfg).unwrap().folded, None);
    let bad = BenchConfig { size: 48, ..cfg };
    assert!(format!("{}", bench_train(&bad).unwrap_err()).contains("multiple of 32"));
}
