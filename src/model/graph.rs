//! The model's inference graph as a sequence of operations, for writing it out in formats other
//! than libtorch's (ONNX). Each layer emits its eval-mode computation with batch norms folded, so
//! a sink sees exactly the convolutions `predict` runs, in the order the forward runs them.
use tch::Tensor;

/// What the U-Net++ / ResNet34 is made of at inference. `Value` names an intermediate result.
pub trait GraphSink {
    type Value: Clone;
    /// A 2-D convolution with a bias, square kernel (from `weight`'s shape), stride and padding.
    fn conv(
        &mut self,
        x: &Self::Value,
        weight: &Tensor,
        bias: &Tensor,
        stride: i64,
        padding: i64,
    ) -> Self::Value;
    fn relu(&mut self, x: &Self::Value) -> Self::Value;
    /// ResNet's stem pooling: 3 × 3 window, stride 2, padding 1.
    fn max_pool(&mut self, x: &Self::Value) -> Self::Value;
    fn add(&mut self, a: &Self::Value, b: &Self::Value) -> Self::Value;
    /// Nearest-neighbour upsampling by 2 in height and width (PyTorch's `upsample_nearest2d`).
    fn upsample2(&mut self, x: &Self::Value) -> Self::Value;
    /// Concatenation along the channels.
    fn cat(&mut self, parts: &[&Self::Value]) -> Self::Value;
}
