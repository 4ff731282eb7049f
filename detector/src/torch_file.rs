//! Reads the float tensors of a PyTorch `state_dict` file (`torch.save`'s
//! zip format: `data.pkl`, a pickle of an `OrderedDict` of tensors, and one
//! raw little-endian file per storage), with no Python and no torch.
//!
//! Only what a saved state dict uses is understood: a stored (uncompressed)
//! zip, and the dozen pickle opcodes torch writes for an `OrderedDict` of
//! `_rebuild_tensor_v2` calls. Anything else is refused with its name, so a
//! file of another shape fails loudly rather than loading wrong weights.

use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TorchFileError(pub String);

fn err<T>(problem: impl Into<String>) -> Result<T, TorchFileError> {
    Err(TorchFileError(problem.into()))
}

/// One float tensor: its shape and values in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// The float tensors of a state dict, by name. Integer tensors (such as
/// batch norm's `num_batches_tracked`) are left out.
pub fn read_state_dict(bytes: &[u8]) -> Result<HashMap<String, Tensor>, TorchFileError> {
    let files = zip_entries(bytes)?;
    let (pkl_name, pkl) = files
        .iter()
        .find(|(name, _)| name.ends_with("/data.pkl") || *name == "data.pkl")
        .ok_or_else(|| TorchFileError("no data.pkl: not a torch.save file".into()))?;
    let prefix = pkl_name.trim_end_matches("data.pkl");
    let root = unpickle(pkl)?;
    let Value::Dict(items) = root else {
        return err("data.pkl does not hold a dict of tensors (a state_dict)");
    };
    let mut out = HashMap::new();
    for (key, value) in items {
        let Value::Str(name) = key else {
            return err("a state_dict key is not a string");
        };
        let Some(tensor) = rebuild_tensor(&name, &value, |storage| {
            files
                .iter()
                .find(|(n, _)| *n == format!("{prefix}data/{storage}"))
                .map(|(_, b)| *b)
        })?
        else {
            continue;
        };
        out.insert(name, tensor);
    }
    Ok(out)
}

fn rebuild_tensor<'a>(
    name: &str,
    value: &Value,
    storage_bytes: impl Fn(&str) -> Option<&'a [u8]>,
) -> Result<Option<Tensor>, TorchFileError> {
    let Value::Call(func, args) = value else {
        return err(format!("{name}: not a tensor"));
    };
    match func.as_ref() {
        Value::Global(m, n) if m == "torch._utils" && n == "_rebuild_tensor_v2" => {}
        other => {
            return err(format!(
                "{name}: built by {other:?}, not _rebuild_tensor_v2"
            ))
        }
    }
    let [Value::PersistentId(pid), Value::Int(offset), Value::Tuple(size), Value::Tuple(stride), ..] =
        args.as_slice()
    else {
        return err(format!("{name}: unexpected _rebuild_tensor_v2 arguments"));
    };
    let Value::Tuple(pid) = pid.as_ref() else {
        return err(format!("{name}: unexpected storage id"));
    };
    let [Value::Str(kind), Value::Global(_, storage_type), Value::Str(key), _, Value::Int(_)] =
        pid.as_slice()
    else {
        return err(format!("{name}: unexpected storage id"));
    };
    if kind != "storage" {
        return err(format!("{name}: persistent id {kind:?} is not a storage"));
    }
    if storage_type != "FloatStorage" {
        // Integer buffers (num_batches_tracked) are not weights.
        return Ok(None);
    }
    let ints = |t: &[Value]| -> Result<Vec<usize>, TorchFileError> {
        t.iter()
            .map(|v| match v {
                Value::Int(i) if *i >= 0 => Ok(*i as usize),
                _ => err(format!("{name}: a size or stride is not a natural number")),
            })
            .collect()
    };
    let (shape, stride) = (ints(size)?, ints(stride)?);
    // Only contiguous tensors (what a state dict of a model holds).
    let mut expected = 1usize;
    for (d, s) in shape.iter().zip(&stride).rev() {
        if *d > 1 && *s != expected {
            return err(format!("{name}: not a contiguous tensor"));
        }
        expected = expected.saturating_mul(*d);
    }
    let count: usize = shape.iter().product();
    let bytes = storage_bytes(key)
        .ok_or_else(|| TorchFileError(format!("{name}: storage {key} is missing")))?;
    let start = (*offset as usize).saturating_mul(4);
    let end = start.saturating_add(count.saturating_mul(4));
    let Some(raw) = bytes.get(start..end) else {
        return err(format!("{name}: storage {key} is shorter than the tensor"));
    };
    let values = raw
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok(Some(Tensor { shape, values }))
}

/// The entries of a zip archive whose entries are stored uncompressed (as
/// `torch.save` writes them): (name, bytes).
fn zip_entries(bytes: &[u8]) -> Result<Vec<(String, &[u8])>, TorchFileError> {
    let u16_at = |at: usize| -> Result<usize, TorchFileError> {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
            .ok_or_else(|| TorchFileError("truncated zip".into()))
    };
    let u32_at = |at: usize| -> Result<usize, TorchFileError> {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(|| TorchFileError("truncated zip".into()))
    };
    // The end-of-central-directory record: the last one, within the last
    // 64 KiB (its comment's largest size) plus its own 22 bytes.
    let lowest = bytes.len().saturating_sub(22 + 65_535);
    let eocd = (lowest..bytes.len().saturating_sub(21))
        .rev()
        .find(|&i| bytes[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
        .ok_or_else(|| TorchFileError("not a zip file (no end of central directory)".into()))?;
    let count = u16_at(eocd + 10)?;
    let mut at = u32_at(eocd + 16)?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        if u32_at(at)? != 0x0201_4b50 {
            return err("corrupt zip central directory");
        }
        let method = u16_at(at + 10)?;
        let size = u32_at(at + 20)?;
        let name_len = u16_at(at + 28)?;
        let extra_len = u16_at(at + 30)?;
        let comment_len = u16_at(at + 32)?;
        let local = u32_at(at + 42)?;
        let name = bytes
            .get(at + 46..at + 46 + name_len)
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .ok_or_else(|| TorchFileError("truncated zip".into()))?;
        if method != 0 {
            return err(format!(
                "zip entry {name} is compressed (method {method}); torch.save stores entries"
            ));
        }
        if u32_at(local)? != 0x0403_4b50 {
            return err(format!("zip entry {name}: corrupt local header"));
        }
        let data = local + 30 + u16_at(local + 26)? + u16_at(local + 28)?;
        let body = bytes
            .get(data..data.saturating_add(size))
            .ok_or_else(|| TorchFileError(format!("zip entry {name} is truncated")))?;
        out.push((name, body));
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(out)
}

/// What the pickle subset builds.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Tuple(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Global(String, String),
    /// `func(*args)`, left unevaluated (an `OrderedDict()` call is a dict).
    Call(Box<Value>, Vec<Value>),
    PersistentId(Box<Value>),
    Mark,
}

/// A pickle (protocol 2, as torch writes it) as a [`Value`].
fn unpickle(data: &[u8]) -> Result<Value, TorchFileError> {
    let mut stack: Vec<Value> = Vec::new();
    let mut memo: HashMap<u32, Value> = HashMap::new();
    let mut i = 0usize;
    let take = |i: &mut usize, n: usize| -> Result<&[u8], TorchFileError> {
        let s = data
            .get(*i..*i + n)
            .ok_or_else(|| TorchFileError("truncated pickle".into()))?;
        *i += n;
        Ok(s)
    };
    let pop_mark = |stack: &mut Vec<Value>| -> Result<Vec<Value>, TorchFileError> {
        let at = stack
            .iter()
            .rposition(|v| *v == Value::Mark)
            .ok_or_else(|| TorchFileError("pickle: no mark".into()))?;
        let items = stack.split_off(at + 1);
        stack.pop();
        Ok(items)
    };
    let pop = |stack: &mut Vec<Value>| {
        stack
            .pop()
            .ok_or_else(|| TorchFileError("pickle: stack underflow".into()))
    };
    loop {
        let op = take(&mut i, 1)?[0];
        match op {
            0x80 => {
                take(&mut i, 1)?;
            } // PROTO
            b'c' => {
                // GLOBAL: "module\nname\n"
                let mut line = || -> Result<String, TorchFileError> {
                    let end = data[i..]
                        .iter()
                        .position(|&b| b == b'\n')
                        .ok_or_else(|| TorchFileError("truncated pickle".into()))?;
                    let s = String::from_utf8_lossy(&data[i..i + end]).into_owned();
                    i += end + 1;
                    Ok(s)
                };
                let (m, n) = (line()?, line()?);
                stack.push(Value::Global(m, n));
            }
            b'q' => {
                let k = take(&mut i, 1)?[0] as u32;
                memo.insert(k, stack.last().cloned().unwrap_or(Value::None));
            }
            b'r' => {
                let b = take(&mut i, 4)?;
                let k = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                memo.insert(k, stack.last().cloned().unwrap_or(Value::None));
            }
            b'h' => {
                let k = take(&mut i, 1)?[0] as u32;
                stack.push(
                    memo.get(&k)
                        .cloned()
                        .ok_or_else(|| TorchFileError("pickle: bad memo".into()))?,
                );
            }
            b'j' => {
                let b = take(&mut i, 4)?;
                let k = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                stack.push(
                    memo.get(&k)
                        .cloned()
                        .ok_or_else(|| TorchFileError("pickle: bad memo".into()))?,
                );
            }
            b')' => stack.push(Value::Tuple(Vec::new())),
            b'}' => stack.push(Value::Dict(Vec::new())),
            b'N' => stack.push(Value::None),
            0x88 => stack.push(Value::Bool(true)),
            0x89 => stack.push(Value::Bool(false)),
            b'(' => stack.push(Value::Mark),
            b'K' => stack.push(Value::Int(take(&mut i, 1)?[0] as i64)),
            b'M' => {
                let b = take(&mut i, 2)?;
                stack.push(Value::Int(u16::from_le_bytes([b[0], b[1]]) as i64));
            }
            b'J' => {
                let b = take(&mut i, 4)?;
                stack.push(Value::Int(
                    i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64
                ));
            }
            b'G' => {
                let b = take(&mut i, 8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                stack.push(Value::Float(f64::from_be_bytes(a)));
            }
            b'X' => {
                let b = take(&mut i, 4)?;
                let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
                let s = take(&mut i, n)?;
                stack.push(Value::Str(String::from_utf8_lossy(s).into_owned()));
            }
            b't' => {
                let items = pop_mark(&mut stack)?;
                stack.push(Value::Tuple(items));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if stack.len() < n {
                    return err("pickle: stack underflow");
                }
                let items = stack.split_off(stack.len() - n);
                stack.push(Value::Tuple(items));
            }
            b'R' => {
                let args = pop(&mut stack)?;
                let func = pop(&mut stack)?;
                let Value::Tuple(args) = args else {
                    return err("pickle: REDUCE without an argument tuple");
                };
                let value = match &func {
                    Value::Global(m, n) if m == "collections" && n == "OrderedDict" => {
                        Value::Dict(Vec::new())
                    }
                    _ => Value::Call(Box::new(func), args),
                };
                stack.push(value);
            }
            b'Q' => {
                let pid = pop(&mut stack)?;
                stack.push(Value::PersistentId(Box::new(pid)));
            }
            b's' => {
                let v = pop(&mut stack)?;
                let k = pop(&mut stack)?;
                match stack.last_mut() {
                    Some(Value::Dict(d)) => d.push((k, v)),
                    _ => return err("pickle: SETITEM on a non-dict"),
                }
            }
            b'u' => {
                let items = pop_mark(&mut stack)?;
                let Some(Value::Dict(d)) = stack.last_mut() else {
                    return err("pickle: SETITEMS on a non-dict");
                };
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    d.push((k, v));
                }
            }
            b'b' => {
                // BUILD: the state dict's `_metadata` attribute; not needed.
                pop(&mut stack)?;
            }
            b'.' => return pop(&mut stack),
            other => {
                return err(format!(
                    "pickle opcode 0x{other:02x} is not understood (not a plain state_dict file)"
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored zip of `entries`, as torch.save lays it out.
    fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, body) in entries {
            let local = out.len() as u32;
            out.extend_from_slice(&[0x50, 0x4b, 0x03, 0x04]);
            out.extend_from_slice(&[0u8; 14]);
            out.extend_from_slice(&(body.len() as u32).to_le_bytes());
            out.extend_from_slice(&(body.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(body);
            central.extend_from_slice(&[0x50, 0x4b, 0x01, 0x02]);
            central.extend_from_slice(&[0u8; 16]);
            central.extend_from_slice(&(body.len() as u32).to_le_bytes());
            central.extend_from_slice(&(body.len() as u32).to_le_bytes());
            central.extend_from_slice(&(name.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0u8; 12]);
            central.extend_from_slice(&local.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
        }
        let at = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(&[0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0]);
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&at.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out
    }

    /// `OrderedDict(w=tensor of storage "0" shaped 2x2)`, as torch pickles it.
    fn pickle(shape: [u8; 2], stride: [u8; 2]) -> Vec<u8> {
        let mut p = vec![0x80, 2];
        p.extend_from_slice(b"ccollections\nOrderedDict\nq\x00)R(X\x01\x00\x00\x00w");
        p.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storage");
        p.extend_from_slice(
            b"ctorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQK\x00",
        );
        p.extend_from_slice(&[
            b'K', shape[0], b'K', shape[1], 0x86, b'K', stride[0], b'K', stride[1], 0x86,
        ]);
        p.extend_from_slice(b"\x89ccollections\nOrderedDict\n)RtRu}b.");
        p
    }

    #[test]
    fn a_state_dict_reads_as_named_tensors() {
        let values: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let file = zip(&[
            ("m/data.pkl", &pickle([2, 2], [2, 1])),
            ("m/data/0", &values),
        ]);
        let dict = read_state_dict(&file).unwrap();
        assert_eq!(
            dict.get("w"),
            Some(&Tensor {
                shape: vec![2, 2],
                values: vec![1.0, 2.0, 3.0, 4.0]
            })
        );
    }

    #[test]
    fn other_files_are_refused_with_a_reason() {
        assert!(read_state_dict(b"not a zip")
            .unwrap_err()
            .to_string()
            .contains("not a zip"));
        let values = [0u8; 16];
        // A transposed (non-contiguous) tensor.
        let file = zip(&[
            ("m/data.pkl", &pickle([2, 2], [1, 2])),
            ("m/data/0", &values),
        ]);
        assert!(read_state_dict(&file)
            .unwrap_err()
            .to_string()
            .contains("contiguous"));
        // A storage too short for the tensor.
        let file = zip(&[
            ("m/data.pkl", &pickle([2, 2], [2, 1])),
            ("m/data/0", &values[..8]),
        ]);
        assert!(read_state_dict(&file)
            .unwrap_err()
            .to_string()
            .contains("shorter"));
        let file = zip(&[("m/data.pkl", b"\x80\x02cos\nsystem\n.")]);
        assert!(read_state_dict(&file).is_err());
    }
}
