//! U-Net++ decoder and segmentation head of segmentation_models_pytorch 0.6.0
//! (`UnetPlusPlus("resnet34", classes=1)`: decoder channels 256,128,64,32,16, nearest upsampling,
//! Conv-BN-ReLU blocks, no attention, 3×3 head). Keys equal smp's `state_dict` keys.
use super::graph::GraphSink;
use super::layers::Conv2dReLU;
use super::resnet::{ResNet34Encoder, FEATURE_CHANNELS};
use std::collections::HashMap;
use tch::nn::{self, Module, ModuleT};
use tch::Tensor;

pub const DECODER_CHANNELS: [i64; 5] = [256, 128, 64, 32, 16];

/// smp `DecoderBlock`: ×2 nearest upsampling, concatenation with the skips, two Conv2dReLU.
#[derive(Debug)]
struct DecoderBlock {
    conv1: Conv2dReLU,
    conv2: Conv2dReLU,
}

impl DecoderBlock {
    fn new(p: &nn::Path, cin: i64, skip: i64, cout: i64) -> Self {
        Self {
            conv1: Conv2dReLU::new(&(p / "conv1"), cin + skip, cout),
            conv2: Conv2dReLU::new(&(p / "conv2"), cout, cout),
        }
    }

    fn fold(&mut self) {
        self.conv1.fold();
        self.conv2.fold();
    }

    /// smp concatenates the dense skips first and then again with the upsampled input; one
    /// concatenation of all parts gives the same tensor with one copy less.
    fn forward(&self, x: &Tensor, skips: &[&Tensor], train: bool) -> Tensor {
        // By scale factor, not output size: a traced (exported) model then takes any input size.
        let up = x.upsample_nearest2d_vec(None::<&[i64]>, [2.0, 2.0].as_slice());
        let x = if skips.is_empty() {
            up
        } else {
            let mut parts: Vec<&Tensor> = Vec::with_capacity(skips.len() + 1);
            parts.push(&up);
            parts.extend_from_slice(skips);
            Tensor::cat(&parts, 1)
        };
        self.conv2
            .forward_t(&self.conv1.forward_t(&x, train), train)
    }

    fn emit<G: GraphSink>(&self, g: &mut G, x: &G::Value, skips: &[&G::Value]) -> G::Value {
        let up = g.upsample2(x);
        let x = if skips.is_empty() {
            up
        } else {
            let mut parts = vec![&up];
            parts.extend_from_slice(skips);
            g.cat(&parts)
        };
        let y = self.conv1.emit(g, &x);
        self.conv2.emit(g, &y)
    }
}

/// Nested decoder; blocks keyed `(depth_idx, layer_idx)` like smp's `x_{depth}_{layer}`.
#[derive(Debug)]
struct Decoder {
    blocks: HashMap<(usize, usize), DecoderBlock>,
    depth: usize,
}

impl Decoder {
    fn new(p: &nn::Path) -> Self {
        // Encoder channels without the input, deepest first: [512, 256, 128, 64, 64].
        let enc: Vec<i64> = FEATURE_CHANNELS.iter().rev().copied().collect();
        let mut in_ch = vec![enc[0]];
        in_ch.extend_from_slice(&DECODER_CHANNELS[..4]);
        let mut skip_ch: Vec<i64> = enc[1..].to_vec();
        skip_ch.push(0);
        let out_ch = DECODER_CHANNELS;
        let bp = p / "blocks";
        let mut blocks = HashMap::new();
        let depth = in_ch.len() - 1;
        for layer in 0..depth {
            for d in 0..=layer {
                let (cin, skip, cout) = if d == 0 {
                    (
                        in_ch[layer],
                        skip_ch[layer] * (layer as i64 + 1),
                        out_ch[layer],
                    )
                } else {
                    (
                        skip_ch[layer - 1],
                        skip_ch[layer] * (layer - d + 1) as i64,
                        skip_ch[layer],
                    )
                };
                blocks.insert(
                    (d, layer),
                    DecoderBlock::new(&(&bp / format!("x_{d}_{layer}")), cin, skip, cout),
                );
            }
        }
        let last = DecoderBlock::new(
            &(&bp / format!("x_0_{depth}")),
            in_ch[depth],
            0,
            out_ch[depth],
        );
        blocks.insert((0, depth), last);
        Self { blocks, depth }
    }

    fn fold(&mut self) {
        self.blocks.values_mut().for_each(DecoderBlock::fold);
    }

    /// `feats`: encoder outputs at strides 2..32 (smp's features without the input).
    fn forward(&self, feats: &[Tensor], train: bool) -> Tensor {
        self.wire(feats, |block, x, skips| block.forward(x, skips, train))
    }

    /// smp's nested wiring over `feats` (strides 2..32): `run(block, input, skips)` computes one
    /// block, in the order the forward computes them; gives the last block's output.
    fn wire<V>(&self, feats: &[V], mut run: impl FnMut(&DecoderBlock, &V, &[&V]) -> V) -> V {
        let f: Vec<&V> = feats.iter().rev().collect();
        let mut dense: HashMap<(usize, usize), V> = HashMap::new();
        for layer in 0..self.depth {
            for d in 0..self.depth - layer {
                let l = d + layer;
                let out = if layer == 0 {
                    run(&self.blocks[&(d, d)], f[d], &[f[d + 1]])
                } else {
                    let mut skips: Vec<&V> = (d + 1..=l).map(|i| &dense[&(i, l)]).collect();
                    skips.push(f[l + 1]);
                    run(&self.blocks[&(d, l)], &dense[&(d, l - 1)], &skips)
                };
                dense.insert((d, l), out);
            }
        }
        run(
            &self.blocks[&(0, self.depth)],
            &dense[&(0, self.depth - 1)],
            &[],
        )
    }
}

/// The full model: `encoder.*`, `decoder.blocks.*`, `segmentation_head.0.*`.
#[derive(Debug)]
pub struct UnetPlusPlus {
    pub encoder: ResNet34Encoder,
    decoder: Decoder,
    head: nn::Conv2D,
}

impl UnetPlusPlus {
    pub fn new(p: &nn::Path) -> Self {
        // smp initialises the head with xavier_uniform (gain 1) and zero bias.
        let cin = DECODER_CHANNELS[4];
        let fan_sum = ((cin + 1) * 9) as f64;
        let bound = (6.0 / fan_sum).sqrt();
        let cfg = nn::ConvConfig {
            padding: 1,
            ws_init: nn::Init::Uniform {
                lo: -bound,
                up: bound,
            },
            bs_init: nn::Init::Const(0.0),
            ..Default::default()
        };
        Self {
            encoder: ResNet34Encoder::new(&(p / "encoder")),
            decoder: Decoder::new(&(p / "decoder")),
            head: nn::conv2d(p / "segmentation_head" / "0", cin, 1, 3, cfg),
        }
    }

    /// Fold every batch norm into the convolution before it: the same eval-mode outputs (to float
    /// rounding) with one pass less over each activation. For inference only, once the weights are
    /// loaded; training-mode forwards keep using the unfolded layers.
    pub fn fold_batch_norms(&mut self) {
        self.encoder.fold_batch_norms();
        self.decoder.fold();
    }
}

impl UnetPlusPlus {
    /// The eval-mode forward (logits) emitted into `g`, batch norms folded.
    pub fn emit<G: GraphSink>(&self, g: &mut G, xs: &G::Value) -> G::Value {
        let feats = self.encoder.emit_features(g, xs);
        let top = self
            .decoder
            .wire(&feats, |block, x, skips| block.emit(g, x, skips));
        let bias = self.head.bs.as_ref().expect("smp's head has a bias");
        g.conv(&top, &self.head.ws, bias, 1, 1)
    }
}

impl ModuleT for UnetPlusPlus {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let feats = self.encoder.features(xs, train);
        self.head.forward(&self.decoder.forward(&feats, train))
    }
}
