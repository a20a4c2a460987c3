//! torchvision's ResNet34 used as an smp encoder: same layers and key names (`conv1`, `bn1`,
//! `layer1.0.conv1`, `layer2.0.downsample.0` …), no `avgpool`/`fc`, returning the five feature maps
//! the U-Net++ decoder consumes.
use super::layers::{conv_no_bias, BatchNorm2d, KAIMING_NORMAL_FAN_OUT};
use tch::nn::{self, Module, ModuleT};
use tch::Tensor;

/// Channels of the five encoder outputs, stride 2 to 32 (smp `out_channels[1..]`).
pub const FEATURE_CHANNELS: [i64; 5] = [64, 64, 128, 256, 512];

/// torchvision `BasicBlock`.
#[derive(Debug)]
struct BasicBlock {
    conv1: nn::Conv2D,
    bn1: BatchNorm2d,
    conv2: nn::Conv2D,
    bn2: BatchNorm2d,
    downsample: Option<(nn::Conv2D, BatchNorm2d)>,
}

impl BasicBlock {
    fn new(p: &nn::Path, cin: i64, cout: i64, stride: i64) -> Self {
        let downsample = (stride != 1 || cin != cout).then(|| {
            let d = p / "downsample";
            (
                conv_no_bias(&(&d / "0"), cin, cout, 1, stride, 0, KAIMING_NORMAL_FAN_OUT),
                BatchNorm2d::new(&(&d / "1"), cout),
            )
        });
        Self {
            conv1: conv_no_bias(
                &(p / "conv1"),
                cin,
                cout,
                3,
                stride,
                1,
                KAIMING_NORMAL_FAN_OUT,
            ),
            bn1: BatchNorm2d::new(&(p / "bn1"), cout),
            conv2: conv_no_bias(&(p / "conv2"), cout, cout, 3, 1, 1, KAIMING_NORMAL_FAN_OUT),
            bn2: BatchNorm2d::new(&(p / "bn2"), cout),
            downsample,
        }
    }
}

impl ModuleT for BasicBlock {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let out = self.bn1.forward_t(&self.conv1.forward(xs), train).relu_();
        let out = self.bn2.forward_t(&self.conv2.forward(&out), train);
        let identity = match &self.downsample {
            Some((conv, bn)) => bn.forward_t(&conv.forward(xs), train),
            None => xs.shallow_clone(),
        };
        (out + identity).relu_()
    }
}

/// ResNet34 trunk; build it under `root / "encoder"` for smp key names.
#[derive(Debug)]
pub struct ResNet34Encoder {
    conv1: nn::Conv2D,
    bn1: BatchNorm2d,
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
            conv1: conv_no_bias(&(p / "conv1"), 3, 64, 7, 2, 3, KAIMING_NORMAL_FAN_OUT),
            bn1: BatchNorm2d::new(&(p / "bn1"), 64),
            layers,
        }
    }

    /// Feature maps at strides 2, 4, 8, 16, 32 (smp's list without the input itself).
    pub fn features(&self, xs: &Tensor, train: bool) -> Vec<Tensor> {
        let stem = self.bn1.forward_t(&self.conv1.forward(xs), train).relu_();
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
}
