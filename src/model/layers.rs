//! Building blocks shared by the encoder and the decoder, named like their PyTorch counterparts so
//! that VarStore paths equal PyTorch `state_dict` keys.
use tch::nn::{self, Init, Module, ModuleT};
use tch::{Kind, Tensor};

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
            1e-5,
            true,
        )
    }
}

/// Bias-free `nn.Conv2d` (every conv followed by a batch norm).
pub fn conv_no_bias(
    p: &nn::Path,
    cin: i64,
    cout: i64,
    k: i64,
    stride: i64,
    padding: i64,
    init: Init,
) -> nn::Conv2D {
    let cfg = nn::ConvConfig {
        stride,
        padding,
        bias: false,
        ws_init: init,
        ..Default::default()
    };
    nn::conv2d(p, cin, cout, k, cfg)
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
pub struct Conv2dReLU {
    conv: nn::Conv2D,
    bn: BatchNorm2d,
}

impl Conv2dReLU {
    pub fn new(p: &nn::Path, cin: i64, cout: i64) -> Self {
        Self {
            conv: conv_no_bias(&(p / "0"), cin, cout, 3, 1, 1, KAIMING_UNIFORM_FAN_IN),
            bn: BatchNorm2d::new(&(p / "1"), cout),
        }
    }
}

impl ModuleT for Conv2dReLU {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.bn.forward_t(&self.conv.forward(xs), train).relu_()
    }
}
