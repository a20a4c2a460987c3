//! Runs the ONNX graphs tumorseg writes, with libtorch, to check each export before it is kept:
//! read back from its bytes, the graph must give `predict`'s probabilities. Knows exactly the
//! operators and attribute values `onnx::build` uses and refuses anything else, so that a graph
//! this cannot run is never reported as checked.
use super::onnx_proto::*;
use anyhow::{bail, ensure, Context, Result};
use std::collections::HashMap;
use tch::{Kind, Tensor};

fn attribute<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn ints(node: &NodeProto, name: &str) -> Result<Vec<i64>> {
    attribute(node, name)
        .map(|a| a.ints.clone())
        .with_context(|| format!("{} without {name}", node.op_type))
}

fn string(node: &NodeProto, name: &str) -> String {
    attribute(node, name)
        .map(|a| String::from_utf8_lossy(&a.s).into_owned())
        .unwrap_or_default()
}

fn tensor(t: &TensorProto) -> Result<Tensor> {
    let values = match t.data_type {
        FLOAT => Tensor::from_slice(
            &t.raw_data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                .collect::<Vec<_>>(),
        ),
        INT64 => Tensor::from_slice(
            &t.raw_data
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect::<Vec<_>>(),
        ),
        other => bail!("initializer {} has data type {other}", t.name),
    };
    ensure!(
        values.numel() as i64 == t.dims.iter().product::<i64>(),
        "initializer {} holds {} elements for {:?}",
        t.name,
        values.numel(),
        t.dims
    );
    Ok(values.reshape(&t.dims))
}

fn longs(t: &Tensor) -> Result<Vec<i64>> {
    Ok(Vec::<i64>::try_from(t.to_kind(Kind::Int64).flatten(0, -1))?)
}

/// The two spatial values of a 4-value `pads` attribute, which must be symmetric.
fn symmetric_pads(node: &NodeProto) -> Result<Vec<i64>> {
    let pads = ints(node, "pads")?;
    ensure!(
        pads.len() == 4 && pads[..2] == pads[2..],
        "{}: pads {pads:?}",
        node.name
    );
    Ok(pads[..2].to_vec())
}

fn apply(node: &NodeProto, x: &[&Tensor]) -> Result<Tensor> {
    let arity = |n: usize| {
        ensure!(x.len() == n, "{} with {} inputs", node.name, x.len());
        Ok(())
    };
    Ok(match node.op_type.as_str() {
        "Concat" => Tensor::cat(x, attribute(node, "axis").map_or(0, |a| a.i)),
        "Sub" => x[0] - x[1],
        "Mul" => x[0] * x[1],
        "Add" => x[0] + x[1],
        "Relu" => x[0].relu(),
        "Sigmoid" => x[0].sigmoid(),
        "Mean" => x.iter().map(|t| t.shallow_clone()).sum::<Tensor>() / x.len() as f64,
        "Transpose" => x[0].permute(ints(node, "perm")?),
        "Conv" => {
            arity(3)?;
            ensure!(attribute(node, "group").is_none_or(|a| a.i == 1));
            let strides = ints(node, "strides")?;
            x[0].conv2d(x[1], Some(x[2]), strides, symmetric_pads(node)?, [1], 1)
        }
        "MaxPool" => {
            let (kernel, strides) = (ints(node, "kernel_shape")?, ints(node, "strides")?);
            x[0].max_pool2d(kernel, strides, symmetric_pads(node)?, [1, 1], false)
        }
        // Inputs X and scales: the empty roi name is not among `x`.
        "Resize" => {
            arity(2)?;
            let modes =
                ["mode", "coordinate_transformation_mode", "nearest_mode"].map(|a| string(node, a));
            ensure!(
                modes == ["nearest", "asymmetric", "floor"],
                "{}: Resize {modes:?}",
                node.name
            );
            let scales = Vec::<f64>::try_from(x[1].to_kind(Kind::Double))?;
            ensure!(
                scales[..2] == [1.0, 1.0],
                "{}: scales {scales:?}",
                node.name
            );
            x[0].upsample_nearest2d_vec(None::<&[i64]>, &scales[2..])
        }
        "Slice" => {
            arity(5)?;
            let (starts, ends, steps) = (longs(x[1])?, longs(x[2])?, longs(x[4])?);
            // Only whole reversals (a flip) are written.
            ensure!(
                starts.iter().all(|&s| s == -1)
                    && ends.iter().all(|&e| e == i64::MIN)
                    && steps.iter().all(|&s| s == -1),
                "{}: a Slice that is not a flip",
                node.name
            );
            x[0].flip(longs(x[3])?)
        }
        other => bail!("{}: operator {other} is not one tumorseg writes", node.name),
    })
}

/// The graph's output for `grey` ([N, 1, H, W] float on any device).
pub fn run(model: &ModelProto, grey: &Tensor) -> Result<Tensor> {
    let graph = model
        .graph
        .as_ref()
        .context("an ONNX model without a graph")?;
    let mut values: HashMap<&str, Tensor> = HashMap::new();
    for t in &graph.initializer {
        values.insert(&t.name, tensor(t)?.to_device(grey.device()));
    }
    let input = graph.input.first().context("a graph without an input")?;
    values.insert(&input.name, grey.shallow_clone());
    for node in &graph.node {
        let args = node
            .input
            .iter()
            .filter(|name| !name.is_empty())
            .map(|name| {
                values
                    .get(name.as_str())
                    .with_context(|| format!("{} reads {name}, which nothing gives", node.name))
            })
            .collect::<Result<Vec<_>>>()?;
        let out = apply(node, &args)?;
        values.insert(
            node.output.first().context("a node without an output")?,
            out,
        );
    }
    let output = graph.output.first().context("a graph without an output")?;
    values
        .remove(output.name.as_str())
        .with_context(|| format!("nothing gives the output {}", output.name))
}
