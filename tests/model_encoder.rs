//! `--encoder-weights`: torchvision ResNet34 state dicts (.pth and .safetensors) load into
//! `encoder.*` and reproduce torchvision's feature maps; the ImageNet download fails offline with
//! a message naming the file, the URL and the `--encoder-weights <path>` alternative.
mod common;
use std::collections::HashMap;
use tch::nn::VarStore;
use tch::{Device, Tensor};
use tumorseg::model::unetpp::UnetPlusPlus;
use tumorseg::weights::{self, EncoderWeights};

#[test]
fn torchvision_weights_give_torchvision_features() {
    let dir = tempfile::tempdir().unwrap();
    common::run_py("model_reference.py", &["tv", dir.path().to_str().unwrap()]);
    let io: HashMap<_, _> = Tensor::read_safetensors(dir.path().join("tv_io.safetensors"))
        .unwrap()
        .into_iter()
        .collect();
    for file in ["tv_state.pth", "tv_state.safetensors"] {
        let mut vs = VarStore::new(Device::Cpu);
        let model = UnetPlusPlus::new(&vs.root());
        let before = vs.variables()["decoder.blocks.x_0_0.conv1.0.weight"].copy();
        let w: EncoderWeights = dir.path().join(file).to_str().unwrap().parse().unwrap();
        weights::load_encoder(&mut vs, &w).unwrap();
        // the decoder is left alone
        let after = vs.variables()["decoder.blocks.x_0_0.conv1.0.weight"].copy();
        assert!(before.equal(&after));
        let feats = tch::no_grad(|| model.encoder.features(&io["input"], false));
        assert_eq!(feats.len(), 5);
        for (i, f) in feats.iter().enumerate() {
            let want = &io[&format!("f{}", i + 1)];
            assert_eq!(f.size(), want.size());
            let e = (f - want).abs().max().double_value(&[]) / want.abs().max().double_value(&[]);
            println!(
                "{file} f{}: max relative error vs torchvision = {e:.3e}",
                i + 1
            );
            assert!(e <= 1e-4, "{file} feature {}: relative error {e}", i + 1);
        }
    }
}

#[test]
fn encoder_weights_parse() {
    assert_eq!(
        "imagenet".parse::<EncoderWeights>().unwrap(),
        EncoderWeights::Imagenet
    );
    assert_eq!(
        "none".parse::<EncoderWeights>().unwrap(),
        EncoderWeights::None
    );
    assert_eq!(
        "a/b.pth".parse::<EncoderWeights>().unwrap(),
        EncoderWeights::Path("a/b.pth".into())
    );
}

#[test]
fn smp_keys_are_rejected_as_encoder_weights() {
    // An smp checkpoint is not a torchvision state dict: the error lists the keys that do not fit.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wrong.safetensors");
    let t = Tensor::zeros([64, 3, 7, 7], (tch::Kind::Float, Device::Cpu));
    Tensor::write_safetensors(&[("encoder.conv1.weight", &t), ("fc.weight", &t)], &path).unwrap();
    let mut vs = VarStore::new(Device::Cpu);
    let _m = UnetPlusPlus::new(&vs.root());
    let err = format!(
        "{:#}",
        weights::load_encoder(&mut vs, &EncoderWeights::Path(path)).unwrap_err()
    );
    assert!(
        err.contains("unexpected keys (1): encoder.conv1.weight"),
        "{err}"
    );
    assert!(
        err.contains("missing keys (") && err.contains("conv1.weight"),
        "{err}"
    );
}

#[test]
fn imagenet_offline_error_names_file_url_and_alternative() {
    let cache = tempfile::tempdir().unwrap();
    // Only this test touches these variables in this test binary.
    std::env::set_var("XDG_CACHE_HOME", cache.path());
    std::env::set_var(weights::URL_ENV, "http://127.0.0.1:9/resnet34-b627a593.pth");
    let mut vs = VarStore::new(Device::Cpu);
    let _m = UnetPlusPlus::new(&vs.root());
    let err = format!(
        "{:#}",
        weights::load_encoder(&mut vs, &EncoderWeights::Imagenet).unwrap_err()
    );
    assert!(err.contains("resnet34-b627a593.pth"), "{err}");
    assert!(
        err.contains("http://127.0.0.1:9/resnet34-b627a593.pth"),
        "{err}"
    );
    assert!(err.contains("--encoder-weights <path>"), "{err}");
    assert!(
        err.contains(&cache.path().join("tumorseg").display().to_string()),
        "{err}"
    );
    assert!(!cache.path().join("tumorseg/resnet34-b627a593.pth").exists());
}
