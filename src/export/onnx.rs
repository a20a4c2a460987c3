//! ONNX export: the batch-norm-folded model, its input normalisation, its test-time augmentation
//! and the sigmoid written as one ONNX graph (opset 17), so that ONNX Runtime, TensorRT or OpenVINO
//! serve a model trained here without PyTorch. Written from the model's own layer walk
//! ([`GraphSink`]), not traced: the graph has exactly the operations `predict` runs.
use super::onnx_proto::*;
use crate::batches::{IMAGENET_MEAN, IMAGENET_STD};
use crate::model::graph::GraphSink;
use crate::model::unetpp::UnetPlusPlus;
use crate::predict::Tta;
use prost::Message;
use std::collections::HashMap;
use tch::{Device, Kind, Tensor};

/// An ONNX model and its graph as protobuf messages.
pub use super::onnx_proto::{GraphProto as OnnxGraph, ModelProto as OnnxModel};

/// The graph's input and output names.
pub const INPUT: &str = "grey";
pub const OUTPUT: &str = "probability";
/// ONNX Runtime 1.x, TensorRT 8.6+ and OpenVINO 2023+ all take opset 17 and IR version 8.
pub const OPSET: i64 = 17;
const IR_VERSION: i64 = 8;

/// Nodes and initializers as they are added; each initializer is written once, however often the
/// test-time augmentation's views use it.
#[derive(Default)]
struct Builder {
    graph: GraphProto,
    /// Initializers by (storage address, shape) for weights, by a given key for constants.
    names: HashMap<String, String>,
    /// The weights keyed by address, held so that no later tensor can take an address over.
    held: Vec<Tensor>,
}

fn attr_ints(name: &str, ints: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints: ints.to_vec(),
        r#type: ATTR_INTS,
        ..Default::default()
    }
}

fn attr_int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i,
        r#type: ATTR_INT,
        ..Default::default()
    }
}

fn attr_string(name: &str, s: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        s: s.as_bytes().to_vec(),
        r#type: ATTR_STRING,
        ..Default::default()
    }
}

/// TensorProto's raw_data of float32 elements.
fn little_endian(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A float tensor input or output of any batch and sides: [N, 1, H, W].
fn grey_value(name: &str) -> ValueInfoProto {
    let dim = |value: Option<i64>, param: Option<&str>| Dimension {
        dim_value: value,
        dim_param: param.map(str::to_string),
    };
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: FLOAT,
                shape: Some(TensorShapeProto {
                    dim: vec![
                        dim(None, Some("N")),
                        dim(Some(1), None),
                        dim(None, Some("H")),
                        dim(None, Some("W")),
                    ],
                }),
            }),
        }),
    }
}

impl Builder {
    fn node(&mut self, op: &str, inputs: &[&str], attribute: Vec<AttributeProto>) -> String {
        let out = format!("{}_{}", op.to_lowercase(), self.graph.node.len());
        self.graph.node.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.clone()],
            name: out.clone(),
            op_type: op.into(),
            attribute,
        });
        out
    }

    /// An initializer, added the first time `key` is seen.
    fn initializer(&mut self, key: String, make: impl FnOnce() -> TensorProto) -> String {
        if let Some(name) = self.names.get(&key) {
            return name.clone();
        }
        let name = format!("w{}", self.graph.initializer.len());
        self.graph.initializer.push(TensorProto {
            name: name.clone(),
            ..make()
        });
        self.names.insert(key, name.clone());
        name
    }

    /// A float initializer holding `t` (copied to the CPU as float32).
    fn floats(&mut self, t: &Tensor) -> String {
        let key = format!("{:?}{:?}", t.data_ptr(), t.size());
        self.held.push(t.shallow_clone());
        self.initializer(key, || {
            let t = t.to_device(Device::Cpu).to_kind(Kind::Float).contiguous();
            let values = Vec::<f32>::try_from(t.flatten(0, -1)).expect("a float tensor");
            TensorProto {
                dims: t.size(),
                data_type: FLOAT,
                raw_data: little_endian(&values),
                ..Default::default()
            }
        })
    }

    /// A constant of `data_type` shaped `dims`, its elements little-endian in `raw_data`.
    fn constant(&mut self, dims: &[i64], data_type: i32, raw_data: Vec<u8>) -> String {
        let key = format!("{dims:?}{data_type}{raw_data:?}");
        self.initializer(key, || TensorProto {
            dims: dims.to_vec(),
            data_type,
            raw_data,
            ..Default::default()
        })
    }

    fn f32s(&mut self, values: &[f32], dims: &[i64]) -> String {
        self.constant(dims, FLOAT, little_endian(values))
    }

    fn int64s(&mut self, values: &[i64]) -> String {
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.constant(&[values.len() as i64], INT64, raw)
    }

    /// Reverse `axes` (PyTorch's `flip`): a Slice from the last element backwards.
    fn flip(&mut self, x: &str, axes: &[i64]) -> String {
        let n = axes.len();
        let starts = self.int64s(&vec![-1; n]);
        let ends = self.int64s(&vec![i64::MIN; n]);
        let axes = self.int64s(axes);
        let steps = self.int64s(&vec![-1; n]);
        self.node("Slice", &[x, &starts, &ends, &axes, &steps], vec![])
    }

    /// PyTorch's `rot90(x, k, [2, 3])`: k counter-clockwise quarter turns, k in 0..4.
    fn rot90(&mut self, x: &str, k: i64) -> String {
        let transpose = |b: &mut Self, y: &str| {
            b.node("Transpose", &[y], vec![attr_ints("perm", &[0, 1, 3, 2])])
        };
        match k.rem_euclid(4) {
            0 => x.to_string(),
            1 => {
                let y = self.flip(x, &[3]);
                transpose(self, &y)
            }
            2 => self.flip(x, &[2, 3]),
            _ => {
                let y = self.flip(x, &[2]);
                transpose(self, &y)
            }
        }
    }

    /// `batches::normalize`: grey to the three ImageNet-normalised channels.
    fn normalize(&mut self, grey: &str) -> String {
        let mean = self.f32s(&IMAGENET_MEAN, &[1, 3, 1, 1]);
        let inv_std = self.f32s(&IMAGENET_STD.map(|s| 1.0 / s), &[1, 3, 1, 1]);
        let three = self.node("Concat", &[grey, grey, grey], vec![attr_int("axis", 1)]);
        let centred = self.node("Sub", &[&three, &mean], vec![]);
        self.node("Mul", &[&centred, &inv_std], vec![])
    }
}

impl GraphSink for Builder {
    type Value = String;

    fn conv(
        &mut self,
        x: &String,
        weight: &Tensor,
        bias: &Tensor,
        stride: i64,
        padding: i64,
    ) -> String {
        let k = weight.size()[2];
        let (w, b) = (self.floats(weight), self.floats(bias));
        let attrs = vec![
            attr_ints("kernel_shape", &[k, k]),
            attr_ints("strides", &[stride, stride]),
            attr_ints("pads", &[padding; 4]),
        ];
        self.node("Conv", &[x, &w, &b], attrs)
    }

    fn relu(&mut self, x: &String) -> String {
        self.node("Relu", &[x], vec![])
    }

    fn max_pool(&mut self, x: &String) -> String {
        let attrs = vec![
            attr_ints("kernel_shape", &[3, 3]),
            attr_ints("strides", &[2, 2]),
            attr_ints("pads", &[1; 4]),
        ];
        self.node("MaxPool", &[x], attrs)
    }

    fn add(&mut self, a: &String, b: &String) -> String {
        self.node("Add", &[a, b], vec![])
    }

    fn upsample2(&mut self, x: &String) -> String {
        let scales = self.f32s(&[1.0, 1.0, 2.0, 2.0], &[4]);
        // Output pixel i reads input pixel floor(i / 2), as PyTorch's nearest upsampling does.
        let attrs = vec![
            attr_string("mode", "nearest"),
            attr_string("coordinate_transformation_mode", "asymmetric"),
            attr_string("nearest_mode", "floor"),
        ];
        self.node("Resize", &[x, "", &scales], attrs)
    }

    fn cat(&mut self, parts: &[&String]) -> String {
        let names: Vec<&str> = parts.iter().map(|s| s.as_str()).collect();
        self.node("Concat", &names, vec![attr_int("axis", 1)])
    }
}

/// The whole model as ONNX: `grey` [N, 1, H, W] in [0, 1] to `probability` [N, 1, H, W], the mean
/// over `models` (one, or an ensemble's members) and `tta`'s views as `predict::grey_probabilities`
/// computes it. `metadata` goes into the model's metadata_props (ONNX Runtime:
/// `session.get_modelmeta().custom_metadata_map`).
pub fn build(
    models: &[UnetPlusPlus],
    tta: Tta,
    doc: &str,
    metadata: &[(&str, String)],
) -> OnnxModel {
    let _no_grad = tch::no_grad_guard();
    let mut b = Builder::default();
    let x = b.normalize(INPUT);
    let mut views = Vec::new();
    for &(mirror, k) in tta.views() {
        let v = if mirror { b.flip(&x, &[3]) } else { x.clone() };
        let v = b.rot90(&v, k);
        for model in models {
            let logits = model.emit(&mut b, &v);
            let p = b.node("Sigmoid", &[&logits], vec![]);
            let p = b.rot90(&p, -k);
            views.push(if mirror { b.flip(&p, &[3]) } else { p });
        }
    }
    let refs: Vec<&str> = views.iter().map(String::as_str).collect();
    let last = b.node("Mean", &refs, vec![]);
    // The last node gives the graph's output under its documented name.
    let node = b.graph.node.last_mut().expect("the graph has nodes");
    node.output = vec![OUTPUT.to_string()];
    debug_assert_eq!(node.name, last);
    let mut graph = b.graph;
    graph.name = "tumorseg".into();
    graph.input = vec![grey_value(INPUT)];
    graph.output = vec![grey_value(OUTPUT)];
    ModelProto {
        ir_version: IR_VERSION,
        producer_name: "tumorseg".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: doc.into(),
        graph: Some(graph),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        metadata_props: metadata
            .iter()
            .map(|(key, value)| StringStringEntryProto {
                key: key.to_string(),
                value: value.clone(),
            })
            .collect(),
    }
}

/// The model's bytes as they go into the file. Protocol Buffers cap a message at 2 GiB, and this
/// writer keeps the weights inside it (no external data files): about 20 members of an ensemble.
pub fn encode(model: &OnnxModel) -> anyhow::Result<Vec<u8>> {
    let len = model.encoded_len();
    anyhow::ensure!(
        len <= i32::MAX as usize,
        "the ONNX model would take {len} bytes, beyond the 2 GiB one ONNX file holds: export fewer \
         ensemble members, or as TorchScript"
    );
    Ok(model.encode_to_vec())
}

/// Read back a file's bytes.
pub fn decode(bytes: &[u8]) -> anyhow::Result<OnnxModel> {
    ModelProto::decode(bytes).map_err(|e| anyhow::anyhow!("not an ONNX model: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_beyond_two_gib_is_refused_before_it_is_encoded() {
        // vec![0; n] is a zeroed allocation whose pages are never touched here: no memory is used.
        let weights = super::super::onnx_proto::TensorProto {
            raw_data: vec![0u8; 1 << 31],
            ..Default::default()
        };
        let model = OnnxModel {
            graph: Some(OnnxGraph {
                initializer: vec![weights],
                ..Default::default()
            }),
            ..Default::default()
        };
        let err = encode(&model).unwrap_err().to_string();
        assert!(err.contains("beyond the 2 GiB"), "{err}");
        let small = OnnxModel::default();
        assert_eq!(decode(&encode(&small).unwrap()).unwrap(), small);
    }
}
