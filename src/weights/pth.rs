//! Reader for `torch.save`d state dicts (zip archive + pickle protocol 2–4), because libtorch's own
//! C++ unpickler (`Tensor::loadz_multi`) rejects the `OrderedDict` that `state_dict()` returns.
//! Only what a state dict needs is understood: dicts/tuples/lists of scalars and strings, and tensors
//! rebuilt by `torch._utils._rebuild_tensor_v2` / `_rebuild_parameter`; anything else (a whole
//! pickled model) is reported as unsupported.
use anyhow::{anyhow, bail, Context, Result};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use tch::{Kind, Tensor};

// Payloads that nothing reads still show up in error messages (Debug).
#[allow(dead_code)]
#[derive(Debug, Clone)]
enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Mark,
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Global(String, String),
    Storage {
        key: String,
        kind: Kind,
    },
    Tensor(usize),
    /// A call we don't model (kept so that unused metadata doesn't fail the whole load).
    Opaque(String),
}

struct Unpickler<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    memo: HashMap<u32, Value>,
    /// Tensors are rebuilt later, once their storages are read.
    tensors: Vec<TensorRef>,
}

/// A view into a storage file of the archive (`_rebuild_tensor_v2`'s arguments).
struct TensorRef {
    storage: String,
    kind: Kind,
    offset: i64,
    size: Vec<i64>,
    stride: Vec<i64>,
}

fn storage_kind(name: &str) -> Result<Kind> {
    Ok(match name {
        "FloatStorage" => Kind::Float,
        "DoubleStorage" => Kind::Double,
        "HalfStorage" => Kind::Half,
        "BFloat16Storage" => Kind::BFloat16,
        "LongStorage" => Kind::Int64,
        "IntStorage" => Kind::Int,
        "ShortStorage" => Kind::Int16,
        "CharStorage" => Kind::Int8,
        "ByteStorage" => Kind::Uint8,
        "BoolStorage" => Kind::Bool,
        other => bail!("unsupported tensor storage type torch.{other}"),
    })
}

fn ints(v: &Value) -> Result<Vec<i64>> {
    match v {
        Value::Tuple(xs) | Value::List(xs) => xs
            .iter()
            .map(|x| match x {
                Value::Int(i) => Ok(*i),
                other => Err(anyhow!("expected an int, got {other:?}")),
            })
            .collect(),
        other => bail!("expected a tuple of ints, got {other:?}"),
    }
}

impl<'a> Unpickler<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .context("truncated pickle")?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into()?))
    }

    fn line(&mut self) -> Result<String> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .context("truncated pickle")?;
        let s = String::from_utf8_lossy(&rest[..n]).into_owned();
        self.pos += n + 1;
        Ok(s)
    }

    fn pop(&mut self) -> Result<Value> {
        self.stack.pop().context("pickle stack underflow")
    }

    fn pop_mark(&mut self) -> Result<Vec<Value>> {
        let at = self
            .stack
            .iter()
            .rposition(|v| matches!(v, Value::Mark))
            .context("pickle MARK missing")?;
        let items = self.stack.split_off(at + 1);
        self.stack.pop();
        Ok(items)
    }

    fn str(&mut self, n: usize) -> Result<()> {
        let s = String::from_utf8(self.take(n)?.to_vec())?;
        self.stack.push(Value::Str(s));
        Ok(())
    }

    fn set_items(&mut self, items: Vec<Value>) -> Result<()> {
        let Some(Value::Dict(d)) = self.stack.last_mut() else {
            bail!("SETITEM on a non-dict")
        };
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            d.push((k, v));
        }
        Ok(())
    }

    fn reduce(&mut self, func: Value, args: Value) -> Result<Value> {
        let Value::Global(module, name) = func else {
            bail!("REDUCE on {func:?}")
        };
        let Value::Tuple(args) = args else {
            bail!("REDUCE args are not a tuple")
        };
        Ok(match (module.as_str(), name.as_str()) {
            ("collections", "OrderedDict") => Value::Dict(Vec::new()),
            ("torch._utils", "_rebuild_tensor_v2") => {
                let Some(Value::Storage { key, kind }) = args.first() else {
                    bail!("tensor without storage")
                };
                let offset = match args.get(1) {
                    Some(Value::Int(o)) => *o,
                    _ => bail!("tensor without storage offset"),
                };
                let size = ints(args.get(2).context("tensor without size")?)?;
                let stride = ints(args.get(3).context("tensor without stride")?)?;
                self.tensors.push(TensorRef {
                    storage: key.clone(),
                    kind: *kind,
                    offset,
                    size,
                    stride,
                });
                Value::Tensor(self.tensors.len() - 1)
            }
            ("torch._utils", "_rebuild_parameter") => {
                args.into_iter().next().context("empty parameter")?
            }
            _ => Value::Opaque(format!("{module}.{name}")),
        })
    }

    fn persistent(&mut self, pid: Value) -> Result<Value> {
        let Value::Tuple(t) = pid else {
            bail!("unexpected persistent id {pid:?}")
        };
        match (t.first(), t.get(1), t.get(2)) {
            (Some(Value::Str(tag)), Some(Value::Global(_, ty)), Some(Value::Str(key)))
                if tag == "storage" =>
            {
                Ok(Value::Storage {
                    key: key.clone(),
                    kind: storage_kind(ty)?,
                })
            }
            _ => bail!("unexpected persistent id {t:?}"),
        }
    }

    fn run(&mut self) -> Result<Value> {
        loop {
            let op = self.take(1)?[0];
            match op {
                0x80 => {
                    self.take(1)?;
                }
                0x95 => {
                    self.take(8)?;
                }
                b'.' => return self.pop(),
                b'(' => self.stack.push(Value::Mark),
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'K' => {
                    let v = self.take(1)?[0] as i64;
                    self.stack.push(Value::Int(v));
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.take(2)?.try_into()?) as i64;
                    self.stack.push(Value::Int(v));
                }
                b'J' => {
                    let v = i32::from_le_bytes(self.take(4)?.try_into()?) as i64;
                    self.stack.push(Value::Int(v));
                }
                0x8a => {
                    let n = self.take(1)?[0] as usize;
                    let bytes = self.take(n)?;
                    if n > 8 {
                        bail!("integer too large in pickle");
                    }
                    let mut b = [if bytes.last().is_some_and(|&x| x & 0x80 != 0) {
                        0xff
                    } else {
                        0
                    }; 8];
                    b[..n].copy_from_slice(bytes);
                    self.stack.push(Value::Int(i64::from_le_bytes(b)));
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.take(8)?.try_into()?);
                    self.stack.push(Value::Float(v));
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    self.str(n)?;
                }
                0x8c => {
                    let n = self.take(1)?[0] as usize;
                    self.str(n)?;
                }
                b'c' => {
                    let (m, n) = (self.line()?, self.line()?);
                    self.stack.push(Value::Global(m, n));
                }
                0x93 => {
                    let (n, m) = (self.pop()?, self.pop()?);
                    match (m, n) {
                        (Value::Str(m), Value::Str(n)) => self.stack.push(Value::Global(m, n)),
                        _ => bail!("STACK_GLOBAL without strings"),
                    }
                }
                b'q' => {
                    let i = self.take(1)?[0] as u32;
                    let v = self.stack.last().context("BINPUT on empty stack")?.clone();
                    self.memo.insert(i, v);
                }
                b'r' => {
                    let i = self.u32()?;
                    let v = self
                        .stack
                        .last()
                        .context("LONG_BINPUT on empty stack")?
                        .clone();
                    self.memo.insert(i, v);
                }
                0x94 => {
                    let i = self.memo.len() as u32;
                    let v = self.stack.last().context("MEMOIZE on empty stack")?.clone();
                    self.memo.insert(i, v);
                }
                b'h' | b'j' => {
                    let i = if op == b'h' {
                        self.take(1)?[0] as u32
                    } else {
                        self.u32()?
                    };
                    let v = self.memo.get(&i).context("pickle memo miss")?.clone();
                    self.stack.push(v);
                }
                b'}' => self.stack.push(Value::Dict(Vec::new())),
                b']' => self.stack.push(Value::List(Vec::new())),
                b')' => self.stack.push(Value::Tuple(Vec::new())),
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let at = self
                        .stack
                        .len()
                        .checked_sub(n)
                        .context("pickle stack underflow")?;
                    let items = self.stack.split_off(at);
                    self.stack.push(Value::Tuple(items));
                }
                b's' => {
                    let (v, k) = (self.pop()?, self.pop()?);
                    self.set_items(vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items)?;
                }
                b'a' | b'e' => {
                    let items = if op == b'a' {
                        vec![self.pop()?]
                    } else {
                        self.pop_mark()?
                    };
                    let Some(Value::List(l)) = self.stack.last_mut() else {
                        bail!("APPEND on a non-list")
                    };
                    l.extend(items);
                }
                b'R' => {
                    let (args, func) = (self.pop()?, self.pop()?);
                    let v = self.reduce(func, args)?;
                    self.stack.push(v);
                }
                // BUILD sets attributes (e.g. the state dict's `_metadata`); not needed for weights.
                b'b' => {
                    self.pop()?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = self.persistent(pid)?;
                    self.stack.push(v);
                }
                other => bail!(
                    "unsupported pickle opcode 0x{other:02x} at byte {}",
                    self.pos - 1
                ),
            }
        }
    }
}

/// Read every tensor of a `torch.save`d (zip format) state dict, by key, on the CPU.
pub fn read(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| {
        anyhow!("not a torch.save zip archive ({e}); legacy (PyTorch < 1.6) files must be re-saved or converted to .safetensors")
    })?;
    let pkl_name = zip
        .file_names()
        .find(|n| n.ends_with("data.pkl"))
        .context("no data.pkl in archive")?
        .to_string();
    let prefix = pkl_name.trim_end_matches("data.pkl").to_string();
    let mut pkl = Vec::new();
    zip.by_name(&pkl_name)?.read_to_end(&mut pkl)?;
    let mut up = Unpickler {
        data: &pkl,
        pos: 0,
        stack: Vec::new(),
        memo: HashMap::new(),
        tensors: Vec::new(),
    };
    let root = up.run()?;
    let Value::Dict(entries) = root else {
        bail!("the pickle holds a {root:?}-like object, not a state dict")
    };
    let mut out = Vec::new();
    for (k, v) in entries {
        let (Value::Str(key), Value::Tensor(i)) = (k, v) else {
            continue;
        };
        let TensorRef {
            storage: skey,
            kind,
            offset,
            size,
            stride,
        } = &up.tensors[i];
        let mut bytes = Vec::new();
        zip.by_name(&format!("{prefix}data/{skey}"))
            .with_context(|| format!("storage {skey} of {key} missing"))?
            .read_to_end(&mut bytes)?;
        let numel = (bytes.len() / kind.elt_size_in_bytes()) as i64;
        let storage = Tensor::f_from_data_size(&bytes, &[numel], *kind)?;
        let t = storage
            .f_as_strided(size.as_slice(), stride.as_slice(), *offset)?
            .contiguous();
        out.push((key, t));
    }
    Ok(out)
}
