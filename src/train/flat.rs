//! Many tensors re-pointed into one flat fp32 buffer, so that an elementwise update over all of them
//! (Adam's step, the weight average) is one kernel instead of one per tensor. In-place writes through
//! the original handles (autograd's gradient accumulation, BatchNorm's running statistics) land in
//! the buffer because every tensor keeps its identity and only its storage changes.
use anyhow::{bail, Result};
use tch::{Device, Kind, Tensor};

/// Copies the values of `tensors` into one new buffer on `device` and makes each tensor a view of
/// its slice, in order. Every tensor must be fp32 on `device`.
pub fn flatten<'a>(
    tensors: impl IntoIterator<Item = (&'a str, &'a mut Tensor)>,
    device: Device,
) -> Result<Tensor> {
    let mut tensors: Vec<(&str, &mut Tensor)> = tensors.into_iter().collect();
    for (name, t) in &tensors {
        if t.kind() != Kind::Float || t.device() != device {
            bail!(
                "tensor {name} is {:?} on {:?}: the flat buffer is fp32 on {device:?}",
                t.kind(),
                t.device()
            );
        }
    }
    let total: i64 = tensors.iter().map(|(_, t)| t.numel() as i64).sum();
    let flat = Tensor::zeros([total], (Kind::Float, device));
    let _guard = tch::no_grad_guard();
    let shapes: Vec<Vec<i64>> = tensors.iter().map(|(_, t)| t.size()).collect();
    for ((_, t), mut view) in tensors.iter_mut().zip(views(&flat, &shapes)) {
        view.copy_(t);
        t.set_data(&view);
    }
    Ok(flat)
}

/// Consecutive views of `flat` with the given shapes (the layout `flatten` uses).
pub fn views(flat: &Tensor, shapes: &[Vec<i64>]) -> Vec<Tensor> {
    let mut offset = 0;
    shapes
        .iter()
        .map(|shape| {
            let n: i64 = shape.iter().product();
            let v = flat.narrow(0, offset, n).view(shape.as_slice());
            offset += n;
            v
        })
        .collect()
}
