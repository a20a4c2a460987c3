//! The training step and the validation Dice on tiny inputs (CPU).
mod common;
use tch::{nn, nn::ModuleT, Device, Kind, Tensor};
use tumorseg::device::{autocast, Precision};
use tumorseg::model::unetpp::UnetPlusPlus;
use tumorseg::train::{dice_sum, step, StepState};

#[test]
fn valid_dice_is_the_mean_of_hand_computed_per_image_dice() {
    // Three 1×2×2 images: a perfect prediction, empty/empty, and tp=1 fp=1 fn=2.
    let pred =
        Tensor::from_slice(&[1f32, 0., 1., 0., 0., 0., 0., 0., 1., 1., 0., 0.]).view([3, 1, 2, 2]);
    let truth =
        Tensor::from_slice(&[1f32, 0., 1., 0., 0., 0., 0., 0., 1., 0., 1., 1.]).view([3, 1, 2, 2]);
    let logits = pred * 20.0 - 10.0;
    let model = nn::func_t(move |_, train| {
        assert!(!train, "validation must run the model in eval mode");
        logits.shallow_clone()
    });
    let sum = dice_sum(
        &model,
        Device::Cpu,
        Precision::Fp32,
        &Tensor::zeros([3, 3, 2, 2], tch::kind::FLOAT_CPU),
        &truth,
    );
    let eps = 1e-7;
    let want = 1.0 + 1.0 + (2.0 + eps) / (2.0 + 1.0 + 2.0 + eps);
    assert!(
        (sum.double_value(&[0]) - want).abs() < 1e-12,
        "{} vs {want}",
        sum.double_value(&[0])
    );
}

#[test]
fn bf16_autocast_switches_on_and_off_on_the_cpu() {
    let _turn = common::seeded_turn();
    let vs = nn::VarStore::new(Device::Cpu);
    let conv = nn::conv2d(vs.root(), 3, 4, 3, Default::default());
    let x = Tensor::randn([1, 3, 8, 8], tch::kind::FLOAT_CPU);
    let inside = autocast(Device::Cpu, Precision::Bf16, || conv.forward_t(&x, true));
    assert_eq!(inside.kind(), Kind::BFloat16);
    assert_eq!(
        conv.forward_t(&x, true).kind(),
        Kind::Float,
        "autocast must be off again afterwards"
    );
    assert_eq!(
        autocast(Device::Cpu, Precision::Fp32, || conv.forward_t(&x, true)).kind(),
        Kind::Float
    );
}

fn overfit(precision: Precision, steps: u64) -> (f64, f64) {
    overfit_with(precision, steps, false)
}

fn overfit_with(precision: Precision, steps: u64, channels_last: bool) -> (f64, f64) {
    let _turn = common::seeded_turn();
    // One libtorch thread: on a shared, loaded machine OpenMP spinning makes 2 threads several times slower.
    tch::set_num_threads(1);
    tch::manual_seed(3);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = UnetPlusPlus::new(&vs.root());
    let mut st = StepState::new(&vs, 1e-3, precision).unwrap();
    st.channels_last = channels_last;
    // A loader-shaped batch: grey images in [0, 1), u8 masks.
    let x = Tensor::rand([2, 1, 32, 32], tch::kind::FLOAT_CPU);
    let y = x.gt(0.5).to_kind(Kind::Uint8);
    let first = step(&model, &mut st, &x, &y).double_value(&[]);
    let mut last = first;
    for _ in 1..steps {
        last = step(&model, &mut st, &x, &y).double_value(&[]);
    }
    assert_eq!(st.optimizer.steps(), steps);
    (first, last)
}

#[test]
fn steps_on_one_batch_lower_the_loss_fp32() {
    let (first, last) = overfit(Precision::Fp32, 8);
    assert!(
        first.is_finite() && last < first * 0.9,
        "loss {first} → {last}"
    );
}

#[test]
fn bf16_steps_run_on_the_cpu() {
    // CPU bf16 convolutions are slow without AMX: two steps only, checking the loss stays finite and moves.
    let (first, last) = overfit(Precision::Bf16, 2);
    assert!(
        first.is_finite() && last.is_finite() && last != first,
        "loss {first} → {last}"
    );
}

#[test]
fn channels_last_trains_the_same_model() {
    let x = Tensor::randn([2, 3, 4, 4], tch::kind::FLOAT_CPU);
    let cl = tumorseg::device::to_channels_last(&x);
    assert_eq!(cl.stride(), vec![48, 1, 12, 3], "NHWC strides");
    assert_eq!(cl.size(), x.size());
    assert!(cl.equal(&x));
    // Same seed, same data: only the kernels differ (batch-2 BatchNorm down to 1×1 amplifies their
    // rounding to ~1e-3 on this tiny net).
    let (nchw, nhwc) = (
        overfit_with(Precision::Fp32, 3, false),
        overfit_with(Precision::Fp32, 3, true),
    );
    assert!((nchw.0 - nhwc.0).abs() < 2e-3, "{nchw:?} vs {nhwc:?}");
    assert!((nchw.1 - nhwc.1).abs() < 1e-2, "{nchw:?} vs {nhwc:?}");
    assert!(
        nhwc.1 < nhwc.0 * 0.9,
        "channels-last training lowers the loss: {nhwc:?}"
    );
}
