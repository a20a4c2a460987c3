//! GradScaler rules (PyTorch's) and the hand-written Adam (PyTorch's formulas), on the CPU.
mod common;
use tch::{nn, Device, Kind, Tensor};
use tumorseg::scaler::GradScaler;
use tumorseg::train::adam::Adam;

/// A VarStore with two small trainable tensors and one buffer.
fn store() -> (nn::VarStore, Tensor, Tensor) {
    let vs = nn::VarStore::new(Device::Cpu);
    let root = vs.root();
    let a = (&root / "a").var_copy(
        "weight",
        &Tensor::from_slice(&[0.5f32, -1.0, 2.0]).reshape([3, 1]),
    );
    let b = (&root / "b").var_copy("bias", &Tensor::from_slice(&[0.25f32, 3.0]));
    let _buf = (&root / "b").zeros_no_train("running_mean", &[2]);
    (vs, a, b)
}

fn loss(a: &Tensor, b: &Tensor) -> Tensor {
    (a * a).sum(Kind::Float) * 3.0 + (b * a.narrow(0, 0, 2).squeeze_dim(1)).sum(Kind::Float)
}

#[test]
fn injected_inf_skips_the_step_and_halves_the_scale() {
    let (vs, a, b) = store();
    let mut opt = Adam::new(&vs, 1e-1).unwrap();
    let mut scaler = GradScaler::new(Device::Cpu, true);
    assert_eq!(scaler.scale_value(), 65536.0);
    let before = opt.flat_param().copy();

    opt.zero_grad();
    // An infinite loss poisons every gradient it reaches.
    let bad = loss(&a, &b) * f64::INFINITY;
    scaler.scale(&bad).backward();
    let skip = scaler.unscale_(&mut [opt.flat_grad()]);
    assert!(skip);
    if !skip {
        opt.step();
    }
    scaler.update();
    assert_eq!(scaler.scale_value(), 32768.0);
    assert_eq!(scaler.skipped_steps(), 1);
    assert_eq!(opt.steps(), 0);
    assert!(
        opt.flat_param().equal(&before),
        "a skipped step must leave the weights untouched"
    );

    // A clean step: gradients come back unscaled (d/da of the loss, not ×32768) and the weights move.
    opt.zero_grad();
    scaler.scale(&loss(&a, &b)).backward();
    assert!(!scaler.unscale_(&mut [opt.flat_grad()]));
    let g = Vec::<f32>::try_from(opt.flat_grad()).unwrap();
    // Names sorted: a.weight (3) then b.bias (2). d/da = 6a + [b0, b1, 0]; d/db = a[0..2].
    let want = [6.0 * 0.5 + 0.25, -6.0 + 3.0, 12.0, 0.5, -1.0];
    for (x, w) in g.iter().zip(want) {
        assert!((x - w).abs() < 1e-5, "{g:?} vs {want:?}");
    }
    opt.step();
    scaler.update();
    assert_eq!(scaler.scale_value(), 32768.0);
    assert!(!opt.flat_param().equal(&before));
}

#[test]
fn scale_grows_after_the_interval_of_clean_steps() {
    let (vs, a, b) = store();
    let mut opt = Adam::new(&vs, 1e-3).unwrap();
    let mut scaler = GradScaler::with_interval(Device::Cpu, true, 3);
    for i in 1..=7 {
        opt.zero_grad();
        scaler.scale(&loss(&a, &b)).backward();
        assert!(!scaler.unscale_(&mut [opt.flat_grad()]));
        opt.step();
        scaler.update();
        let want = 65536.0 * 2f64.powi(i / 3);
        assert_eq!(scaler.scale_value(), want, "after {i} clean steps");
    }
    assert_eq!(scaler.state().growth_tracker, 1);
}

#[test]
fn adam_matches_torch_optim_adam() {
    let (vs, a, b) = store();
    let mut opt = Adam::new(&vs, 1e-2).unwrap();
    for _ in 0..5 {
        opt.zero_grad();
        loss(&a, &b).backward();
        opt.step();
    }
    // The VarStore's own tensors moved (they are views of the optimizer's flat buffer).
    let got: Vec<f32> = Vec::<f32>::try_from(a.reshape([-1]))
        .unwrap()
        .into_iter()
        .chain(Vec::<f32>::try_from(&b).unwrap())
        .collect();
    let out = common::run_py("train_adam_ref.py", &[]);
    let want: Vec<f32> = serde_json::from_str(&out).unwrap();
    for (x, w) in got.iter().zip(&want) {
        assert!((x - w).abs() < 1e-6, "{got:?} vs torch {want:?}");
    }
}

#[test]
fn adam_state_round_trips() {
    let (vs, a, b) = store();
    let mut opt = Adam::new(&vs, 1e-2).unwrap();
    opt.zero_grad();
    loss(&a, &b).backward();
    opt.step();
    let (vs2, _, _) = store();
    let mut opt2 = Adam::new(&vs2, 1.0).unwrap();
    opt2.load(&opt.state(), &opt.moments()).unwrap();
    assert_eq!(opt2.state(), opt.state());
    assert!(opt2.moments()[1].1.equal(&opt.moments()[1].1));
}
