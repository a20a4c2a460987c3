//! Where tensors live and in which precision the model runs: one place resolves `--device` and `--precision`.
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// `auto` picks CUDA when libtorch sees a GPU, otherwise the CPU.
pub fn parse_device(s: &str) -> Result<Device> {
    Ok(match s {
        "auto" => Device::cuda_if_available(),
        "cpu" => Device::Cpu,
        "cuda" => cuda(s, 0)?,
        s if s.starts_with("cuda:") => {
            let i: usize = s[5..]
                .parse()
                .map_err(|_| anyhow::anyhow!("bad device {s:?}: use auto, cpu, cuda or cuda:N"))?;
            cuda(s, i)?
        }
        _ => bail!("unknown device {s:?}: use auto, cpu, cuda or cuda:N"),
    })
}

/// CUDA device `i`, refused with what libtorch sees when it is not there.
fn cuda(given: &str, i: usize) -> Result<Device> {
    match tch::Cuda::device_count() {
        0 => bail!(
            "--device {given}: libtorch sees no CUDA device (is torch_cuda linked and a driver \
             present? try `tumorseg info`)"
        ),
        n if i as i64 >= n => bail!(
            "--device {given}: libtorch sees {} (cuda:0 to cuda:{})",
            crate::report::count(n as usize, "CUDA device"),
            n - 1
        ),
        _ => Ok(Device::Cuda(i)),
    }
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

/// tch exposes no device-properties call; the NVIDIA driver publishes each GPU's model under /proc.
pub fn gpu_names() -> Vec<String> {
    let Ok(dirs) = std::fs::read_dir("/proc/driver/nvidia/gpus") else {
        return vec![];
    };
    let mut names: Vec<(String, String)> = dirs
        .filter_map(|d| {
            let d = d.ok()?;
            let info = std::fs::read_to_string(d.path().join("information")).ok()?;
            let model = info.lines().find_map(|l| l.strip_prefix("Model:"))?;
            Some((
                d.file_name().to_string_lossy().into_owned(),
                model.trim().to_string(),
            ))
        })
        .collect();
    names.sort();
    names.into_iter().map(|(_, m)| m).collect()
}

/// tch 0.24 pins the libtorch it was built for; the runtime library may differ when LD_LIBRARY_PATH points elsewhere.
pub const LIBTORCH: &str = "2.11.0 (tch 0.24 build target)";

/// libtorch's autocast state, reached through its C++ symbols: tch 0.24 only wraps the CUDA/fp16 switch,
/// and bf16 (CUDA or CPU) needs the dtype and the device type. The signatures are the Itanium-mangled
/// `at::autocast` functions of libtorch 2.x (`c10::DeviceType` and `c10::ScalarType` are `int8_t` enums).
mod ffi {
    extern "C" {
        #[link_name = "_ZN2at8autocast19is_autocast_enabledEN3c1010DeviceTypeE"]
        pub fn is_autocast_enabled(device_type: i8) -> bool;
        #[link_name = "_ZN2at8autocast20set_autocast_enabledEN3c1010DeviceTypeEb"]
        pub fn set_autocast_enabled(device_type: i8, enabled: bool);
        #[link_name = "_ZN2at8autocast18get_autocast_dtypeEN3c1010DeviceTypeE"]
        pub fn get_autocast_dtype(device_type: i8) -> i8;
        #[link_name = "_ZN2at8autocast18set_autocast_dtypeEN3c1010DeviceTypeENS1_10ScalarTypeE"]
        pub fn set_autocast_dtype(device_type: i8, dtype: i8);
        #[link_name = "_ZN2at8autocast17increment_nestingEv"]
        pub fn increment_nesting() -> i32;
        #[link_name = "_ZN2at8autocast17decrement_nestingEv"]
        pub fn decrement_nesting() -> i32;
        #[link_name = "_ZN2at8autocast11clear_cacheEv"]
        pub fn clear_cache();
    }
}

/// c10::DeviceType codes.
fn device_type_code(device: Device) -> i8 {
    match device {
        Device::Cuda(_) => 1,
        _ => 0,
    }
}

/// c10::ScalarType codes of the two autocast dtypes.
fn scalar_type_code(kind: Kind) -> i8 {
    match kind {
        Kind::BFloat16 => 15,
        _ => 5,
    }
}

/// Runs `f` under autocast for `precision` on `device` (as `torch.autocast(device_type, dtype)`), restoring
/// the previous state afterwards; fp32 runs `f` unchanged. The state is thread-local, like PyTorch's.
pub fn autocast<T>(device: Device, precision: Precision, f: impl FnOnce() -> T) -> T {
    let Some(kind) = precision.autocast_kind() else {
        return f();
    };
    let dt = device_type_code(device);
    // SAFETY: plain C++ functions on thread-local state taking/returning scalars (same ABI as C on x86-64/aarch64).
    let (prev_enabled, prev_dtype) = unsafe {
        let prev = (ffi::is_autocast_enabled(dt), ffi::get_autocast_dtype(dt));
        ffi::set_autocast_dtype(dt, scalar_type_code(kind));
        ffi::set_autocast_enabled(dt, true);
        ffi::increment_nesting();
        prev
    };
    let out = f();
    // SAFETY: as above.
    unsafe {
        if ffi::decrement_nesting() == 0 {
            ffi::clear_cache();
        }
        ffi::set_autocast_enabled(dt, prev_enabled);
        ffi::set_autocast_dtype(dt, prev_dtype);
    }
    out
}

/// Memory layout the model computes in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// channels-last, measured faster on both devices: on an H100 it trained 1.8–2× and inferred 1.2×
    /// faster; on a 2-core CPU it inferred 640² batches 1.3–1.45× and trained 128² batches 1.25× faster.
    #[default]
    Auto,
    /// PyTorch's default layout (on the CPU slightly faster only for tiny inputs, e.g. 64² batches of 4).
    Nchw,
    /// NHWC strides, so cuDNN and oneDNN run their native kernels.
    ChannelsLast,
}

impl Layout {
    /// Whether inputs go to the model NHWC-strided.
    pub fn channels_last(self) -> bool {
        match self {
            Layout::Auto | Layout::ChannelsLast => true,
            Layout::Nchw => false,
        }
    }
}

/// An NCHW tensor with NHWC strides (PyTorch's `channels_last`), built by permute + contiguous:
/// tch has no memory-format API, and cuDNN follows the input's layout through the whole network.
pub fn to_channels_last(x: &Tensor) -> Tensor {
    x.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_layout_is_channels_last() {
        assert!(Layout::Auto.channels_last());
        assert!(Layout::ChannelsLast.channels_last());
        assert!(!Layout::Nchw.channels_last());
    }

    #[test]
    fn a_device_that_is_not_there_is_refused_with_what_is() {
        let err = |s: &str| parse_device(s).unwrap_err().to_string();
        assert!(err("cuda:x").contains("use auto, cpu, cuda or cuda:N"));
        assert!(err("gpu").contains("unknown device"));
        let n = tch::Cuda::device_count();
        let beyond = format!("cuda:{n}");
        if n == 0 {
            assert!(err("cuda").contains("sees no CUDA device"));
            assert!(err(&beyond).contains("sees no CUDA device"));
        } else {
            assert!(err(&beyond).contains(&format!("(cuda:0 to cuda:{})", n - 1)));
        }
    }
}
