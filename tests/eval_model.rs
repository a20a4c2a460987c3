//! Model-based checks on an untrained U-Net++ (size 64, CPU): probabilities come back at the original
//! size, the layouts agree, and TTA is the mean of the flipped and turned passes.
mod common;

use common::gradient;
use image::{GrayImage, Luma};
use tch::{nn::VarStore, Device};
use tumorseg::device::Precision;
use tumorseg::model::unetpp::UnetPlusPlus;
use tumorseg::predict::{probabilities_gray, Inference, ProbMap, Tta};

/// One model, as the slice of models inference takes.
fn model() -> (VarStore, [UnetPlusPlus; 1]) {
    tch::manual_seed(3);
    let vs = VarStore::new(Device::Cpu);
    let m = UnetPlusPlus::new(&vs.root());
    (vs, [m])
}

fn inf(tta: Tta) -> Inference {
    Inference {
        size: 64,
        batch: 2,
        device: Device::Cpu,
        precision: Precision::Fp32,
        tta,
        channels_last: false,
    }
}

#[test]
fn probabilities_come_back_at_the_original_size() {
    let (_vs, m) = model();
    let images = vec![gradient(100, 70), gradient(33, 150), gradient(64, 64)];
    let probs = probabilities_gray(&m, &images, &inf(Tta::None)).unwrap();
    assert_eq!(probs.len(), 3);
    for (p, img) in probs.iter().zip(&images) {
        assert_eq!((p.width, p.height), img.dimensions());
        assert_eq!(p.data.len(), (img.width() * img.height()) as usize);
        assert!(p.data.iter().all(|v| (0.0..=1.0).contains(v)));
    }
    // At model size the upsample is the identity: equal to sigmoid(forward) on the normalised input.
    let grey = tumorseg::batches::grey_batch(&images[2..], 64);
    let x = tumorseg::batches::normalize(&grey);
    let want = tch::no_grad(|| tch::nn::ModuleT::forward_t(&m[0], &x, false).sigmoid()).view([-1]);
    let want = Vec::<f32>::try_from(want).unwrap();
    let max = want
        .iter()
        .zip(&probs[2].data)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(max < 1e-5, "max diff {max}");
    assert!(probabilities_gray(
        &m,
        &images,
        &Inference {
            size: 50,
            ..inf(Tta::None)
        }
    )
    .is_err());
}

#[test]
fn channels_last_inference_gives_the_same_probabilities() {
    let (_vs, m) = model();
    let images = [gradient(64, 64), gradient(80, 48)];
    // D4 also puts turned (non-contiguous) views through the layout change.
    let nchw = probabilities_gray(&m, &images, &inf(Tta::D4)).unwrap();
    let nhwc = probabilities_gray(
        &m,
        &images,
        &Inference {
            channels_last: true,
            ..inf(Tta::D4)
        },
    )
    .unwrap();
    for (a, b) in nchw.iter().zip(&nhwc) {
        assert_eq!((a.width, a.height), (b.width, b.height));
        let max = a
            .data
            .iter()
            .zip(&b.data)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(max < 1e-4, "max diff {max}");
    }
}

#[test]
fn tta_is_the_mean_of_the_flipped_predictions() {
    let (_vs, m) = model();
    let img = gradient(64, 64);
    let plain = probabilities_gray(&m, std::slice::from_ref(&img), &inf(Tta::None))
        .unwrap()
        .remove(0);
    let tta = probabilities_gray(&m, std::slice::from_ref(&img), &inf(Tta::Flips))
        .unwrap()
        .remove(0);
    let h = probabilities_gray(
        &m,
        &[image::imageops::flip_horizontal(&img)],
        &inf(Tta::None),
    )
    .unwrap()
    .remove(0);
    let v = probabilities_gray(&m, &[image::imageops::flip_vertical(&img)], &inf(Tta::None))
        .unwrap()
        .remove(0);
    let (w, hh) = (64usize, 64usize);
    let mut max = 0f32;
    for y in 0..hh {
        for x in 0..w {
            let want = (plain.data[y * w + x]
                + h.data[y * w + (w - 1 - x)]
                + v.data[(hh - 1 - y) * w + x])
                / 3.0;
            max = max.max((want - tta.data[y * w + x]).abs());
        }
    }
    assert!(max < 1e-5, "max diff {max}");
    assert!(
        plain
            .data
            .iter()
            .zip(&tta.data)
            .any(|(a, b)| (a - b).abs() > 1e-4),
        "TTA changes something"
    );
}

/// A probability map as an image, so that `imageops` can turn it back.
fn prob_image(p: &ProbMap) -> image::ImageBuffer<Luma<f32>, Vec<f32>> {
    image::ImageBuffer::from_raw(p.width, p.height, p.data.clone()).unwrap()
}

#[test]
fn d4_tta_is_the_mean_over_the_eight_symmetries() {
    use image::imageops::{flip_horizontal, rotate180, rotate270, rotate90};
    type F = image::ImageBuffer<Luma<f32>, Vec<f32>>;
    type Turn = (fn(&GrayImage) -> GrayImage, fn(&F) -> F);
    let (_vs, m) = model();
    let img = gradient(64, 64);
    let d4 = probabilities_gray(&m, std::slice::from_ref(&img), &inf(Tta::D4))
        .unwrap()
        .remove(0);
    // Each symmetry g as (g on the image, g⁻¹ on the prediction).
    let turns: [Turn; 4] = [
        (|i| i.clone(), |p| p.clone()),
        (|i| rotate90(i), |p| rotate270(p)),
        (|i| rotate180(i), |p| rotate180(p)),
        (|i| rotate270(i), |p| rotate90(p)),
    ];
    let mut sum = vec![0f32; 64 * 64];
    for mirror in [false, true] {
        for (fwd, back) in &turns {
            let view = if mirror {
                fwd(&flip_horizontal(&img))
            } else {
                fwd(&img)
            };
            let p = probabilities_gray(&m, &[view], &inf(Tta::None))
                .unwrap()
                .remove(0);
            let mut p = back(&prob_image(&p));
            if mirror {
                p = flip_horizontal(&p);
            }
            for (s, v) in sum.iter_mut().zip(p.as_raw()) {
                *s += v / 8.0;
            }
        }
    }
    let max = sum
        .iter()
        .zip(&d4.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(max < 1e-5, "max diff {max}");
    let flips = probabilities_gray(&m, &[img], &inf(Tta::Flips))
        .unwrap()
        .remove(0);
    assert!(flips
        .data
        .iter()
        .zip(&d4.data)
        .any(|(a, b)| (a - b).abs() > 1e-4));
}
