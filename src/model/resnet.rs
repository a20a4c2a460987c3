//! torchvision's ResNet34 used as an smp encoder: same layers and key names (`conv1`, `bn1`,
//! `layer1.0.conv1`, `layer2.0.downsample.0` …), no `avgpool`/`fc`, returning the five feature maps
//! the U-Net++ decoder consumes.
use super::graph::GraphSink;
use super::layers::{ConvBn, ConvBnSpec, KAIMING_NORMAL_FAN_OUT};
use tch::nn::{self, ModuleT};
use tch::Tensor;

/// Channels of the five encoder outputs, stride 2 to 32 (smp `out_channels[1..]`).
pub const FEATURE_CHANNELS: [i64; 5] = [64, 64, 128, 256, 512];

/// torchvision `BasicBlock`.
#[derive(Debug)]
struct BasicBlock {
    conv1: ConvBn,
    conv2: ConvBn,
    downsample: Option<ConvBn>,
}

/// A torchvision conv + batch norm pair: `<conv>` and `<bn>` under `p`, kaiming-normal init.
fn conv_bn(p: &nn::Path, names: (&str, &str), cin: i64, cout: i64, k: i64, stride: i64) -> ConvBn {
    ConvBn::new(ConvBnSpec {
        conv: &(p / names.0),
        bn: &(p / names.1),
        cin,
        cout,
        kernel: k,
        stride,
        padding: k / 2,
        init: KAIMING_NORMAL_FAN_OUT,
    })
}

impl BasicBlock {
    fn new(p: &nn::Path, cin: i64, cout: i64, stride: i64) -> Self {
        let downsample = (stride != 1 || cin != cout)
            .then(|| conv_bn(&(p / "downsample"), ("0", "1"), cin, cout, 1, stride));
        Self {
            conv1: conv_bn(p, ("conv1", "bn1"), cin, cout, 3, stride),
            conv2: conv_bn(p, ("conv2", "bn2"), cout, cout, 3, 1),
            downsample,
        }
    }

    fn fold(&mut self) {
        self.conv1.fold();
        self.conv2.fold();
        if let Some(d) = &mut self.downsample {
            d.fold();
        }
    }

    fn emit<G: GraphSink>(&self, g: &mut G, xs: &G::Value) -> G::Value {
        let out = self.conv1.emit(g, xs);
        let out = g.relu(&out);
        let out = self.conv2.emit(g, &out);
        let identity = match &self.downsample {
            Some(d) => d.emit(g, xs),
            None => xs.clone(),
        };
        let sum = g.add(&out, &identity);
        g.relu(&sum)
    }
}

impl ModuleT for BasicBlock {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let out = self.conv1.forward_t(xs, train).relu_();
        let out = self.conv2.forward_t(&out, train);
        let identity = match &self.downsample {
            Some(d) => d.forward_t(xs, train),
            None => xs.shallow_clone(),
        };
        (out + identity).relu_()
    }
}

/// ResNet34 trunk; build it under `root / "encoder"` for smp key names.
#[derive(Debug)]
pub struct ResNet34Encoder {
    stem: ConvBn,
    layers: Vec<Vec<BasicBlock>>,
}

impl ResNet34Encoder {
    pub fn new(p: &nn::Path) -> Self {
        let plan = [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)];
        let mut cin = 64;
        let mut layers = Vec::new();
        for (i, &(cout, blocks, stride)) in plan.iter().enumerate() {
            let lp = p / format!("layer{}", i + 1);
            let layer = (0..blocks)
                .map(|b| {
                    let s = if b == 0 { stride } else { 1 };
                    let blk = BasicBlock::new(&(&lp / b), cin, cout, s);
                    cin = cout;
                    blk
                })
                .collect();
            layers.push(layer);
        }
        Self {
            stem: conv_bn(p, ("conv1", "bn1"), 3, 64, 7, 2),
            layers,
        }
    }

    /// Fold every batch norm into its convolution for inference (`ConvBn::fold`).
    pub fn fold_batch_norms(&mut self) {
        self.stem.fold();
        self.layers.iter_mut().flatten().for_each(BasicBlock::fold);
    }

    /// Feature maps at strides 2, 4, 8, 16, 32 (smp's list without the input itself).
    pub fn features(&self, xs: &Tensor, train: bool) -> Vec<Tensor> {
        let stem = self.stem.forward_t(xs, train).relu_();
        let mut x = stem.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        let mut feats = vec![stem];
        for layer in &self.layers {
            for block in layer {
                x = block.forward_t(&x, train);
            }
            feats.push(x.shallow_clone());
        }
        feats
    }

    /// [`Self::features`] in eval mode, emitted into `g`.
    pub fn emit_features<G: GraphSink>(&self, g: &mut G, xs: &G::Value) -> Vec<G::Value> {
        let stem = self.stem.emit(g, xs);
        let stem = g.relu(&stem);
        let mut x = g.max_pool(&stem);
        let mut feats = vec![stem];
        for layer in &self.layers {
            for block in layer {
                x = block.emit(g, &x);
            }
            feats.push(x.clone());
        }
        feats
    }
}
