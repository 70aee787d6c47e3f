//! The QR payload drawn as a PNG data URL, as the REST API and admin page hand it out.

use base64::Engine;
use image::{ImageFormat, Luma};
use qrcode::QrCode;

pub fn png_data_url(payload: &str) -> Option<String> {
    let png = png(payload)?;
    Some(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    ))
}

pub fn png(payload: &str) -> Option<Vec<u8>> {
    let code = QrCode::new(payload.as_bytes()).ok()?;
    let img = code.render::<Luma<u8>>().min_dimensions(264, 264).build();
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png).ok()?;
    Some(out.into_inner())
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_a_png() {
        let url = super::png_data_url("2@abc,def,ghi,jkl,WEB").unwrap();
        assert!(url.starts_with("data:image/png;base64,iVBORw0KGgo"), "{}", &url[..40]);
    }
}
