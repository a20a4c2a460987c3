//! U-Net++ with a ResNet34 encoder, parameter names as segmentation_models_pytorch 0.6.0.
pub mod bench;
pub mod graph;
pub mod layers;
pub mod resnet;
pub mod unetpp;

use tch::nn::VarStore;
use tch::Device;

/// Trainable parameters (buffers excluded, as PyTorch's `numel` over `parameters()`), split by top-level module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParameterCounts {
    pub total: i64,
    pub encoder: i64,
    pub decoder: i64,
    pub head: i64,
}

/// Count the trainable variables of a VarStore holding an `UnetPlusPlus` at its root.
pub fn parameter_counts(vs: &VarStore) -> ParameterCounts {
    let mut c = ParameterCounts {
        total: 0,
        encoder: 0,
        decoder: 0,
        head: 0,
    };
    for (name, t) in vs.variables() {
        if !t.requires_grad() {
            continue;
        }
        let n = t.numel() as i64;
        c.total += n;
        match name.split('.').next() {
            Some("encoder") => c.encoder += n,
            Some("decoder") => c.decoder += n,
            _ => c.head += n,
        }
    }
    c
}

/// `tumorseg info --model`: parameter counts of the U-Net++/ResNet34 as built here.
pub fn print_parameter_counts() {
    let vs = VarStore::new(Device::Cpu);
    let _model = unetpp::UnetPlusPlus::new(&vs.root());
    let c = parameter_counts(&vs);
    println!("model: U-Net++ / ResNet34 (segmentation_models_pytorch 0.6.0 layout)");
    println!("  parameters total:   {:>11}", fmt_thousands(c.total));
    println!("  encoder (ResNet34): {:>11}", fmt_thousands(c.encoder));
    println!("  decoder (U-Net++):  {:>11}", fmt_thousands(c.decoder));
    println!("  segmentation head:  {:>11}", fmt_thousands(c.head));
}

fn fmt_thousands(n: i64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
