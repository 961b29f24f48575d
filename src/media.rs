//! Screenshots from the public: decided by their content (never by name or declared type),
//! decoded under limits, and re-encoded as PNG, which drops every metadata block (EXIF, GPS,
//! comments) and anything that is not pixels.

use std::io::Cursor;

use image::{ImageFormat, ImageReader, Limits};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("not a PNG, JPEG or WebP image")]
    NotAnImage,
    #[error("the image could not be decoded")]
    Undecodable,
}

/// The image kinds the public may send.
fn accepted(bytes: &[u8]) -> Option<ImageFormat> {
    match image::guess_format(bytes).ok()? {
        f @ (ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP) => Some(f),
        _ => None,
    }
}

/// Decodes `bytes` (PNG, JPEG or WebP by content) and re-encodes the pixels as PNG.
pub fn reencode(bytes: &[u8]) -> Result<Vec<u8>, ImageError> {
    let format = accepted(bytes).ok_or(ImageError::NotAnImage)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    // A small file can claim a huge canvas: bound what decoding may allocate.
    let mut limits = Limits::default();
    limits.max_image_width = Some(10_000);
    limits.max_image_height = Some(10_000);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let img = reader.decode().map_err(|_| ImageError::Undecodable)?;
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png)
        .map_err(|_| ImageError::Undecodable)?;
    Ok(out.into_inner())
}

/// What a staff evidence file is, by its content: images (re-encoded like screenshots), PDF,
/// JSON, or other UTF-8 text (CSV, logs). Anything else is refused.
pub fn evidence(bytes: &[u8]) -> Result<(Vec<u8>, &'static str), ImageError> {
    if accepted(bytes).is_some() {
        return reencode(bytes).map(|png| (png, "image/png"));
    }
    if bytes.starts_with(b"%PDF-") {
        return Ok((bytes.to_vec(), "application/pdf"));
    }
    match std::str::from_utf8(bytes) {
        Ok(text) if serde_json::from_str::<serde_json::Value>(text).is_ok() => {
            Ok((bytes.to_vec(), "application/json"))
        }
        Ok(text) if !text.chars().any(|c| c.is_control() && !c.is_whitespace()) => {
            Ok((bytes.to_vec(), "text/plain"))
        }
        _ => Err(ImageError::NotAnImage),
    }
}
