//! The protobuf wire format: varints and the (field number, wire value) pairs of a message.

use super::{ProtoError, ProtoResult};

/// One field's raw value on the wire.
#[derive(Debug, Clone, Copy)]
pub enum Wire<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1 (`double`, `fixed64`).
    Fixed64(u64),
    /// Wire type 2: strings, bytes, messages, map entries, packed repeated numbers.
    Len(&'a [u8]),
    /// Wire type 5 (`float`, `fixed32`; no Kubernetes field has it, so it is skipped).
    Fixed32,
}

/// Reads a varint at `pos`, advancing it.
pub fn varint(buf: &[u8], pos: &mut usize) -> ProtoResult<u64> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or(ProtoError::Truncated("varint"))?;
        *pos += 1;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(out);
        }
    }
    Err(ProtoError::VarintTooLong)
}

fn take<'a>(buf: &'a [u8], pos: &mut usize, len: usize) -> ProtoResult<&'a [u8]> {
    let end = pos
        .checked_add(len)
        .filter(|e| *e <= buf.len())
        .ok_or(ProtoError::Truncated("field"))?;
    let slice = &buf[*pos..end];
    *pos = end;
    Ok(slice)
}

/// The fields of a message, in wire order.
pub fn fields(buf: &[u8]) -> ProtoResult<Vec<(u32, Wire<'_>)>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let tag = varint(buf, &mut pos)?;
        let num = u32::try_from(tag >> 3).map_err(|_| ProtoError::BadTag(tag))?;
        let wire = match tag & 7 {
            0 => Wire::Varint(varint(buf, &mut pos)?),
            1 => {
                let b = take(buf, &mut pos, 8)?;
                Wire::Fixed64(u64::from_le_bytes(
                    b.try_into().map_err(|_| ProtoError::Truncated("fixed64"))?,
                ))
            }
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?)
                    .map_err(|_| ProtoError::Truncated("field"))?;
                Wire::Len(take(buf, &mut pos, len)?)
            }
            5 => {
                take(buf, &mut pos, 4)?;
                Wire::Fixed32
            }
            other => return Err(ProtoError::WireType(other)),
        };
        out.push((num, wire));
    }
    Ok(out)
}

/// The varints of a packed repeated field.
pub fn packed(buf: &[u8]) -> ProtoResult<Vec<u64>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        out.push(varint(buf, &mut pos)?);
    }
    Ok(out)
}
