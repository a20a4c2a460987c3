//! Building blocks shared by the encoder and the decoder, named like their PyTorch counterparts so
//! that VarStore paths equal PyTorch `state_dict` keys.
use super::graph::GraphSink;
use tch::nn::{self, Init, Module, ModuleT};
use tch::{Kind, Tensor};

/// PyTorch's default batch-norm epsilon.
const BN_EPS: f64 = 1e-5;

/// `nn.BatchNorm2d` with PyTorch's full buffer set: tch's own batch norm lacks `num_batches_tracked`,
/// which smp/torchvision state dicts carry, so loading and saving would not round-trip without it.
#[derive(Debug)]
pub struct BatchNorm2d {
    weight: Tensor,
    bias: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
}

impl BatchNorm2d {
    pub fn new(p: &nn::Path, channels: i64) -> Self {
        let weight = p.var("weight", &[channels], Init::Const(1.0));
        let bias = p.var("bias", &[channels], Init::Const(0.0));
        let running_mean = p.zeros_no_train("running_mean", &[channels]);
        let running_var = p.ones_no_train("running_var", &[channels]);
        // Only kept for state-dict compatibility: with a fixed momentum PyTorch never reads it,
        // so it is not incremented (that would cost one tiny kernel per layer per step).
        let tracked = Tensor::zeros([], (Kind::Int64, p.device()));
        let _ = p.add("num_batches_tracked", tracked, false);
        Self {
            weight,
            bias,
            running_mean,
            running_var,
        }
    }
}

impl ModuleT for BatchNorm2d {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        Tensor::batch_norm(
            xs,
            Some(&self.weight),
            Some(&self.bias),
            Some(&self.running_mean),
            Some(&self.running_var),
            train,
            0.1,
            BN_EPS,
            true,
        )
    }
}

/// A bias-free `nn.Conv2d` and the batch norm that follows it (every convolution of the model but
/// the head). For inference the pair can be folded into one convolution with a bias, which saves the
/// batch norm's pass over the activations.
#[derive(Debug)]
pub struct ConvBn {
    conv: nn::Conv2D,
    bn: BatchNorm2d,
    stride: i64,
    padding: i64,
    /// Folded weight and bias, used by eval-mode forwards; a copy of the weights at folding time.
    folded: Option<(Tensor, Tensor)>,
}

/// Where a `ConvBn`'s two layers live (PyTorch key prefixes) and its shape.
pub struct ConvBnSpec<'a> {
    pub conv: &'a nn::Path<'a>,
    pub bn: &'a nn::Path<'a>,
    pub cin: i64,
    pub cout: i64,
    pub kernel: i64,
    pub stride: i64,
    pub padding: i64,
    pub init: Init,
}

impl ConvBn {
    pub fn new(s: ConvBnSpec) -> Self {
        let cfg = nn::ConvConfig {
            stride: s.stride,
            padding: s.padding,
            bias: false,
            ws_init: s.init,
            ..Default::default()
        };
        Self {
            conv: nn::conv2d(s.conv, s.cin, s.cout, s.kernel, cfg),
            bn: BatchNorm2d::new(s.bn, s.cout),
            stride: s.stride,
            padding: s.padding,
            folded: None,
        }
    }

    /// Fold the batch norm's running statistics and affine into the convolution:
    /// w' = w·γ/√(σ²+ε), b' = β − μ·γ/√(σ²+ε). Call it once the weights are final: later changes to
    /// the variables reach training-mode forwards only, never the folded copy.
    pub fn fold(&mut self) {
        self.folded = Some(self.folded_parameters());
    }

    /// The folded (weight, bias): the copy `fold` made, else computed from the current variables.
    fn folded_parameters(&self) -> (Tensor, Tensor) {
        if let Some((weight, bias)) = &self.folded {
            return (weight.shallow_clone(), bias.shallow_clone());
        }
        let _no_grad = tch::no_grad_guard();
        let bn = &self.bn;
        let scale = &bn.weight / (&bn.running_var + BN_EPS).sqrt();
        let weight = &self.conv.ws * scale.view([-1, 1, 1, 1]);
        let bias = &bn.bias - &bn.running_mean * &scale;
        (weight.contiguous(), bias)
    }

    /// The eval-mode forward as one convolution with a bias.
    pub fn emit<G: GraphSink>(&self, g: &mut G, x: &G::Value) -> G::Value {
        let (weight, bias) = self.folded_parameters();
        g.conv(x, &weight, &bias, self.stride, self.padding)
    }
}

impl ModuleT for ConvBn {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        match (&self.folded, train) {
            (Some((weight, bias)), false) => {
                xs.conv2d(weight, Some(bias), [self.stride], [self.padding], [1], 1)
            }
            _ => self.bn.forward_t(&self.conv.forward(xs), train),
        }
    }
}

/// torchvision's ResNet conv init: kaiming normal, fan_out, ReLU.
pub const KAIMING_NORMAL_FAN_OUT: Init = Init::Kaiming {
    dist: nn::init::NormalOrUniform::Normal,
    fan: nn::init::FanInOut::FanOut,
    non_linearity: nn::init::NonLinearity::ReLU,
};

/// smp's decoder conv init: kaiming uniform, fan_in, ReLU.
pub const KAIMING_UNIFORM_FAN_IN: Init = nn::init::DEFAULT_KAIMING_UNIFORM;

/// smp `Conv2dReLU` (keys `<p>.0` conv, `<p>.1` batch norm; the ReLU holds no weights).
#[derive(Debug)]
pub struct Conv2dReLU(ConvBn);

impl Conv2dReLU {
    pub fn new(p: &nn::Path, cin: i64, cout: i64) -> Self {
        Self(ConvBn::new(ConvBnSpec {
            conv: &(p / "0"),
            bn: &(p / "1"),
            cin,
            cout,
            kernel: 3,
            stride: 1,
            padding: 1,
            init: KAIMING_UNIFORM_FAN_IN,
        }))
    }

    pub fn fold(&mut self) {
        self.0.fold();
    }

    pub fn emit<G: GraphSink>(&self, g: &mut G, x: &G::Value) -> G::Value {
        let y = self.0.emit(g, x);
        g.relu(&y)
    }
}

impl ModuleT for Conv2dReLU {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.0.forward_t(xs, train).relu_()
    }
}
