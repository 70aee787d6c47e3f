//! The image conversions WhatsApp needs, done with the `image` crate where the real page uses the
//! browser's canvas:
//! - stickers: a PNG or JPEG sent as `media_type=sticker` becomes the 512×512 WebP WhatsApp shows
//!   (its sticker guidelines: exactly 512×512 pixels, WebP, transparent background), as the page's
//!   `WAWebImageUtils.toWebpSticker` does;
//! - profile pictures (a group's): a square 640×640 JPEG and its 96×96 thumbnail, the two sizes
//!   `WAWebContactProfilePicThumbBridge.sendSetPicture` takes (whatsapp-web.js and wa-js crop and
//!   scale to these before calling it).

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::webp::WebPEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ExtendedColorType, ImageDecoder, ImageReader, Limits, Rgb, RgbImage, RgbaImage};

/// The side of a sticker, in pixels (WhatsApp's sticker guidelines).
pub const STICKER_SIDE: u32 = 512;
/// The sides of a profile picture and of its thumbnail, in pixels.
pub const PICTURE_SIDE: u32 = 640;
pub const THUMB_SIDE: u32 = 96;
/// JPEG quality of profile pictures (1–100).
const PICTURE_QUALITY: u8 = 85;
/// The largest source image decoded, in pixels per side: a decompression bomb is refused instead
/// of filling memory.
const MAX_SOURCE_SIDE: u32 = 16_384;
/// The most memory the decoder may allocate, in bytes.
const MAX_DECODE_BYTES: u64 = 256 << 20;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ImageError(pub String);

/// The MIME types these conversions take.
pub fn converts(mime: &str) -> bool {
    matches!(mime, "image/png" | "image/jpeg")
}

fn failed(what: &str) -> impl Fn(image::ImageError) -> ImageError + '_ {
    move |e| ImageError(format!("{what}: {e}"))
}

/// `bytes` (PNG or JPEG, at most [`MAX_SOURCE_SIDE`] pixels a side) decoded and turned upright by
/// its EXIF orientation.
fn decode_upright(bytes: &[u8]) -> Result<DynamicImage, ImageError> {
    let decoding = failed("the image could not be decoded");
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ImageError(format!("the image could not be read: {e}")))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SOURCE_SIDE);
    limits.max_image_height = Some(MAX_SOURCE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(&decoding)?;
    let orientation = decoder.orientation().map_err(&decoding)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(&decoding)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// `bytes` (a PNG or JPEG, any size up to [`MAX_SOURCE_SIDE`]) as a lossless WebP of
/// [`STICKER_SIDE`]² pixels: upright, scaled to fit (Lanczos 3) and centred on a transparent
/// square. CPU-bound: call it off the async runtime. Errors say why the bytes could not be
/// decoded or encoded.
pub fn to_sticker(bytes: &[u8]) -> Result<Vec<u8>, ImageError> {
    let fitted = decode_upright(bytes)?
        .resize(STICKER_SIDE, STICKER_SIDE, FilterType::Lanczos3)
        .to_rgba8();
    let mut canvas = RgbaImage::new(STICKER_SIDE, STICKER_SIDE);
    let x = (STICKER_SIDE - fitted.width()) / 2;
    let y = (STICKER_SIDE - fitted.height()) / 2;
    image::imageops::overlay(&mut canvas, &fitted, x.into(), y.into());

    let mut out = Vec::new();
    WebPEncoder::new_lossless(&mut out)
        .encode(canvas.as_raw(), STICKER_SIDE, STICKER_SIDE, ExtendedColorType::Rgba8)
        .map_err(failed("the sticker could not be encoded"))?;
    Ok(out)
}

/// A profile picture: JPEG bytes of the [`PICTURE_SIDE`]² picture and the [`THUMB_SIDE`]²
/// thumbnail.
#[derive(Debug)]
pub struct ProfilePicture {
    pub picture: Vec<u8>,
    pub thumb: Vec<u8>,
}

/// `bytes` (a PNG or JPEG) as a [`ProfilePicture`]: upright, cropped to the centred square and
/// scaled (Lanczos 3), transparency laid on white. CPU-bound: call it off the async runtime.
pub fn to_profile_picture(bytes: &[u8]) -> Result<ProfilePicture, ImageError> {
    let square = on_white(&decode_upright(bytes)?);
    let jpeg = |side: u32| -> Result<Vec<u8>, ImageError> {
        let scaled = image::imageops::resize(&square, side, side, FilterType::Lanczos3);
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, PICTURE_QUALITY)
            .encode_image(&scaled)
            .map_err(failed("the picture could not be encoded"))?;
        Ok(out)
    };
    Ok(ProfilePicture {
        picture: jpeg(PICTURE_SIDE)?,
        thumb: jpeg(THUMB_SIDE)?,
    })
}

/// The centred square of `image` (the shorter side's length), its transparency laid on white:
/// JPEG has no alpha, and black behind a transparent logo is not what anyone uploaded.
fn on_white(image: &DynamicImage) -> RgbImage {
    let side = image.width().min(image.height());
    let square = image
        .crop_imm((image.width() - side) / 2, (image.height() - side) / 2, side, side)
        .to_rgba8();
    RgbImage::from_fn(side, side, |x, y| {
        let [r, g, b, a] = square.get_pixel(x, y).0;
        let over = |c: u8| ((c as u16 * a as u16 + 255 * (255 - a as u16)) / 255) as u8;
        Rgb([over(r), over(g), over(b)])
    })
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
    fn a_profile_picture_is_the_centred_square_as_two_jpegs() {
        // Left third blue, middle green, right third red: the centred square is all green.
        let img = RgbImage::from_fn(300, 100, |x, _| match x {
            0..100 => Rgb([0, 0, 255]),
            100..200 => Rgb([0, 255, 0]),
            _ => Rgb([255, 0, 0]),
        });
        let p = to_profile_picture(&encoded(DynamicImage::ImageRgb8(img), ImageFormat::Png)).unwrap();
        for (bytes, side) in [(&p.picture, PICTURE_SIDE), (&p.thumb, THUMB_SIDE)] {
            let back = image::load_from_memory_with_format(bytes, ImageFormat::Jpeg)
                .unwrap()
                .to_rgb8();
            assert_eq!(back.dimensions(), (side, side));
            let [r, g, b] = back.get_pixel(side / 2, side / 2).0;
            assert!(g > 200 && r < 60 && b < 60, "{:?}", (r, g, b));
        }
    }

    #[test]
    fn transparency_becomes_white_in_a_profile_picture() {
        let clear = RgbaImage::new(50, 50);
        let p = to_profile_picture(&encoded(DynamicImage::ImageRgba8(clear), ImageFormat::Png)).unwrap();
        let back = image::load_from_memory(&p.thumb).unwrap().to_rgb8();
        assert!(back.get_pixel(48, 48).0.iter().all(|c| *c > 240));
    }

    #[test]
    fn an_oversized_image_is_refused_before_it_is_decoded() {
        let wide = RgbImage::new(MAX_SOURCE_SIDE + 1, 1);
        let err = to_sticker(&encoded(DynamicImage::ImageRgb8(wide), ImageFormat::Png)).unwrap_err();
        assert!(err.0.contains("limit"), "{err}");
    }
}
