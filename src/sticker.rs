//! Stickers from photos: a PNG or JPEG sent as `media_type=sticker` becomes the 512×512 WebP
//! WhatsApp shows as a sticker (its sticker guidelines: exactly 512×512 pixels, WebP, transparent
//! background), as the real page's own `WAWebImageUtils.toWebpSticker` does in the browser.

use std::io::Cursor;

use image::codecs::webp::WebPEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ExtendedColorType, ImageDecoder, ImageReader, Limits, RgbaImage};

/// The side of a sticker, in pixels (WhatsApp's sticker guidelines).
pub const STICKER_SIDE: u32 = 512;
/// The largest source image decoded, in pixels per side: a decompression bomb is refused instead
/// of filling memory.
const MAX_SOURCE_SIDE: u32 = 16_384;
/// The most memory the decoder may allocate, in bytes.
const MAX_DECODE_BYTES: u64 = 256 << 20;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StickerError(pub String);

/// The MIME types [`to_sticker`] converts.
pub fn converts(mime: &str) -> bool {
    matches!(mime, "image/png" | "image/jpeg")
}

/// `bytes` (a PNG or JPEG, any size up to [`MAX_SOURCE_SIDE`]) as a lossless WebP of
/// [`STICKER_SIDE`]² pixels: the image turned upright by its EXIF orientation, scaled to fit
/// (Lanczos 3) and centred on a transparent square. CPU-bound: call it off the async runtime.
/// Errors say why the bytes could not be decoded or encoded.
pub fn to_sticker(bytes: &[u8]) -> Result<Vec<u8>, StickerError> {
    let fail = |what: &str, e: image::ImageError| StickerError(format!("{what}: {e}"));
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| StickerError(format!("the image could not be read: {e}")))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SOURCE_SIDE);
    limits.max_image_height = Some(MAX_SOURCE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| fail("the image could not be decoded", e))?;
    let orientation = decoder
        .orientation()
        .map_err(|e| fail("the image could not be decoded", e))?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| fail("the image could not be decoded", e))?;
    image.apply_orientation(orientation);

    let fitted = image
        .resize(STICKER_SIDE, STICKER_SIDE, FilterType::Lanczos3)
        .to_rgba8();
    let mut canvas = RgbaImage::new(STICKER_SIDE, STICKER_SIDE);
    let x = (STICKER_SIDE - fitted.width()) / 2;
    let y = (STICKER_SIDE - fitted.height()) / 2;
    image::imageops::overlay(&mut canvas, &fitted, x.into(), y.into());

    let mut out = Vec::new();
    WebPEncoder::new_lossless(&mut out)
        .encode(canvas.as_raw(), STICKER_SIDE, STICKER_SIDE, ExtendedColorType::Rgba8)
        .map_err(|e| fail("the sticker could not be encoded", e))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageFormat, Rgb, RgbImage};

    fn encoded(img: DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    #[test]
    fn a_wide_png_is_fitted_and_centred_on_a_transparent_square() {
        let red = RgbImage::from_pixel(200, 100, Rgb([255, 0, 0]));
        let webp = to_sticker(&encoded(DynamicImage::ImageRgb8(red), ImageFormat::Png)).unwrap();
        assert_eq!(infer::get(&webp).map(|t| t.mime_type()), Some("image/webp"));
        let back = image::load_from_memory_with_format(&webp, ImageFormat::WebP)
            .unwrap()
            .to_rgba8();
        assert_eq!(back.dimensions(), (STICKER_SIDE, STICKER_SIDE));
        // 200×100 scales to 512×256, centred: rows 128..384 are the picture, the rest transparent.
        assert_eq!(back.get_pixel(256, 256).0, [255, 0, 0, 255]);
        assert_eq!(back.get_pixel(256, 10).0[3], 0);
        assert_eq!(back.get_pixel(256, 500).0[3], 0);
    }

    #[test]
    fn a_jpeg_converts_too() {
        let img = RgbImage::from_fn(64, 64, |x, y| Rgb([x as u8 * 4, y as u8 * 4, 0]));
        let webp = to_sticker(&encoded(DynamicImage::ImageRgb8(img), ImageFormat::Jpeg)).unwrap();
        let back = image::load_from_memory(&webp).unwrap();
        assert_eq!((back.width(), back.height()), (STICKER_SIDE, STICKER_SIDE));
    }

    #[test]
    fn bytes_that_only_look_like_a_png_are_refused_with_the_reason() {
        let err = to_sticker(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDRjunk").unwrap_err();
        assert!(err.0.starts_with("the image could not be decoded"), "{err}");
    }

    #[test]
    fn an_oversized_image_is_refused_before_it_is_decoded() {
        let wide = RgbImage::new(MAX_SOURCE_SIDE + 1, 1);
        let err = to_sticker(&encoded(DynamicImage::ImageRgb8(wide), ImageFormat::Png)).unwrap_err();
        assert!(err.0.contains("limit"), "{err}");
    }
}
