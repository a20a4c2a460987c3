//! Where tensors live and in which precision the model runs: one place resolves `--device` and `--precision`.
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind};

/// `auto` picks CUDA when libtorch sees a GPU, otherwise the CPU.
pub fn parse_device(s: &str) -> Result<Device> {
    Ok(match s {
        "auto" => Device::cuda_if_available(),
        "cpu" => Device::Cpu,
        "cuda" => {
            if !tch::Cuda::is_available() {
                bail!("--device cuda: libtorch sees no CUDA device (is torch_cuda linked and a driver present? try `tumorseg info`)");
            }
            Device::Cuda(0)
        }
        s if s.starts_with("cuda:") => {
            let i: usize = s[5..]
                .parse()
                .map_err(|_| anyhow::anyhow!("bad device {s:?}"))?;
            if i as i64 >= tch::Cuda::device_count() {
                bail!(
                    "--device {s}: only {} CUDA device(s) visible",
                    tch::Cuda::device_count()
                );
            }
            Device::Cuda(i)
        }
        _ => bail!("unknown device {s:?}: use auto, cpu, cuda or cuda:N"),
    })
}

/// Numeric precision of the forward/backward pass. Master weights always stay fp32.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// fp16 autocast on CUDA, fp32 on CPU.
    Auto,
    Fp32,
    Fp16,
    Bf16,
}

impl Precision {
    /// Resolve `auto` and refuse combinations libtorch cannot train with.
    pub fn resolve(self, device: Device) -> Result<Precision> {
        match (self, device) {
            (Precision::Auto, Device::Cpu) => Ok(Precision::Fp32),
            (Precision::Auto, _) => Ok(Precision::Fp16),
            (Precision::Fp16, Device::Cpu) => bail!(
                "--precision fp16 is not supported on the CPU (libtorch's CPU autocast is bf16-only): use fp32 or bf16"
            ),
            (p, _) => Ok(p),
        }
    }

    /// The autocast dtype, or None for a plain fp32 pass.
    pub fn autocast_kind(self) -> Option<Kind> {
        match self {
            Precision::Fp16 => Some(Kind::Half),
            Precision::Bf16 => Some(Kind::BFloat16),
            _ => None,
        }
    }
}

pub fn device_name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}"),
    }
}
