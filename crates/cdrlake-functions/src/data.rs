//! Reading the reference tables shipped in `data/`.

/// The positions of the named columns (matched ignoring case and surrounding spaces) in a CSV
/// file's header; an error names the file, the header line and the first missing column.
pub(crate) fn header_columns<const N: usize>(
    reader: &mut csv::Reader<&[u8]>,
    file: &str,
    names: [&str; N],
) -> Result<[usize; N], String> {
    let headers = reader
        .headers()
        .map_err(|e| format!("{file}: cannot read the header: {e}"))?;
    let mut out = [0; N];
    for (slot, name) in out.iter_mut().zip(names) {
        *slot = headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                format!(
                    "{file} line 1: no column '{name}' (needs {})",
                    names.join(", ")
                )
            })?;
    }
    Ok(out)
}
