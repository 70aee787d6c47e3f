//! Media files: the kinds WhatsApp accepts, sniffing bytes against the declared kind, safe file
//! names, and where uploads are kept (`<media.dir>/whatsapp_media/<user>/<file>`).

use std::path::{Path, PathBuf};

use crate::db::MessageKind;

/// The MIME type a voice note is sent with: WhatsApp plays only Opus in Ogg as a voice note.
pub const VOICE_MIME: &str = "audio/ogg; codecs=opus";

/// What each media kind takes, as WhatsApp documents it for its clients (the WhatsApp Business
/// Platform's "supported media types"): the sniffed MIME type → the one sent to WhatsApp.
fn accepted(kind: &MessageKind, sniffed: &str) -> Option<&'static str> {
    Some(match (kind, sniffed) {
        (MessageKind::Image, "image/jpeg") => "image/jpeg",
        (MessageKind::Image, "image/png") => "image/png",
        (MessageKind::Video, "video/mp4") => "video/mp4",
        (MessageKind::Video, "video/3gpp") => "video/3gpp",
        (MessageKind::Audio, "audio/aac") => "audio/aac",
        (MessageKind::Audio, "audio/amr") => "audio/amr",
        (MessageKind::Audio, "audio/mpeg") => "audio/mpeg",
        (MessageKind::Audio, "audio/m4a" | "audio/mp4") => "audio/mp4",
        // infer names Opus in Ogg `audio/opus`; WhatsApp wants the container type with the codec.
        (MessageKind::Audio | MessageKind::Ptt, "audio/opus") => VOICE_MIME,
        (MessageKind::Sticker, "image/webp") => "image/webp",
        _ => return None,
    })
}

/// A person-readable list of what `kind` takes, for error messages.
pub fn accepted_description(kind: &MessageKind) -> &'static str {
    match kind {
        MessageKind::Image => "JPEG or PNG",
        MessageKind::Video => "MP4 or 3GPP",
        MessageKind::Audio => "AAC, AMR, MP3, MP4 audio (M4A) or Opus in Ogg",
        MessageKind::Ptt => "Opus in Ogg (audio/ogg; codecs=opus)",
        MessageKind::Sticker => "WebP, or PNG or JPEG (converted to a 512×512 WebP)",
        _ => "any file",
    }
}

/// A hint for a file that is refused as `kind` but would go as another kind.
fn hint(kind: &MessageKind, sniffed: &str) -> &'static str {
    match (kind, sniffed) {
        (MessageKind::Ptt, m) if m.starts_with("audio/") => {
            "; send it as media_type=audio, or convert it to Opus in Ogg (e.g. ffmpeg -i in -c:a libopus out.ogg)"
        }
        (MessageKind::Image, "image/webp") => "; send WebP as media_type=sticker or document",
        (MessageKind::Image, "image/gif") => "; send animations as MP4 video, or the GIF as a document",
        _ => "; any file can be sent as media_type=document",
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SniffError(pub String);

/// The MIME type to send `head` (the first bytes of a file) with as `kind`, from its bytes (never
/// from what the client declared). Documents take anything: their type comes from the bytes,
/// else the file name, else octet-stream. Errors say what `kind` accepts.
pub fn sniff(kind: &MessageKind, head: &[u8], filename: Option<&str>) -> Result<String, SniffError> {
    let sniffed = infer::get(head).map(|t| t.mime_type().to_string());
    if *kind == MessageKind::Document {
        return Ok(sniffed.unwrap_or_else(|| {
            filename
                .and_then(|f| mime_guess::from_path(f).first_raw())
                .unwrap_or("application/octet-stream")
                .to_string()
        }));
    }
    let name = kind.media_type_name();
    let takes = accepted_description(kind);
    let Some(sniffed) = sniffed else {
        return Err(SniffError(format!(
            "the file's bytes are not a recognisable {name} file; media_type={name} takes {takes}"
        )));
    };
    match accepted(kind, &sniffed) {
        Some(mime) => Ok(mime.to_string()),
        None => {
            let detail = match (sniffed.as_str(), head.get(28..35)) {
                ("audio/ogg", Some(b"\x01vorbis")) => "Vorbis in Ogg".to_string(),
                (m, _) => m.to_string(),
            };
            Err(SniffError(format!(
                "the file is {detail}, which cannot be sent as media_type={name}: it takes {takes}{}",
                hint(kind, &sniffed)
            )))
        }
    }
}

/// The most characters a stored or shown file name keeps (its extension included).
pub const MAX_FILENAME_CHARS: usize = 100;
/// An extension longer than this is not kept whole when a name is shortened.
const MAX_EXTENSION_CHARS: usize = 16;

/// The one file-name sanitiser, for names from users and from WhatsApp alike: the last path
/// component only, no control or bidirectional-override characters, no characters that are
/// reserved on common file systems (`sanitize-filename`), no leading dots, letters of any script
/// kept, at most [`MAX_FILENAME_CHARS`] characters with the extension kept when shortened.
/// Empty input gives `file`.
pub fn safe_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    // Invisible format characters can disguise an extension (`exe\u{202E}fdp.pdf`).
    let visible: String = base
        .chars()
        .filter(
            |c| !matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'),
        )
        .collect();
    let options = sanitize_filename::Options {
        truncate: false,
        windows: true,
        replacement: "_",
    };
    let cleaned = sanitize_filename::sanitize_with_options(visible, options);
    let trimmed = cleaned.trim().trim_start_matches('.').trim();
    let out = shorten_keeping_extension(trimmed, MAX_FILENAME_CHARS);
    if out.is_empty() { "file".into() } else { out }
}

fn shorten_keeping_extension(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        return name.to_string();
    }
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e)
        .filter(|e| !e.is_empty() && e.chars().count() <= MAX_EXTENSION_CHARS && !e.contains(' '));
    match ext {
        Some(ext) => {
            let keep = max - ext.chars().count() - 1;
            let stem: String = name.chars().take(keep).collect();
            format!("{}.{ext}", stem.trim_end())
        }
        None => name.chars().take(max).collect(),
    }
}

/// `Content-Disposition: attachment` for a download (RFC 6266): an ASCII `filename=` fallback
/// (transliterated, e.g. `résumé.pdf` → `resume.pdf`) and, when the name is not plain ASCII, the
/// exact name as `filename*=UTF-8''…` (RFC 8187), which current clients prefer.
pub fn attachment(name: &str) -> actix_web::http::header::ContentDisposition {
    use actix_web::http::header::{Charset, ContentDisposition, DispositionParam, DispositionType, ExtendedValue};
    let name = safe_filename(name);
    let ascii: String = deunicode::deunicode(&name)
        .chars()
        .map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '_' })
        .collect();
    let mut parameters = vec![DispositionParam::Filename(safe_filename(&ascii))];
    if ascii != name {
        parameters.push(DispositionParam::FilenameExt(ExtendedValue {
            charset: Charset::Ext("UTF-8".into()),
            language_tag: None,
            value: name.into_bytes(),
        }));
    }
    ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters,
    }
}

pub use crate::outbound::is_internal;

/// Where a user's uploads go, and the path the API reports (relative to the media dir).
pub fn upload_path(media_dir: &Path, user_id: i64, filename: &str) -> (PathBuf, String) {
    stored_path(media_dir, &format!("whatsapp_media/{user_id}"), filename)
}

fn stored_path(media_dir: &Path, folder: &str, filename: &str) -> (PathBuf, String) {
    let relative = format!("{folder}/{}-{}", uuid::Uuid::new_v4().simple(), safe_filename(filename));
    (media_dir.join(&relative), relative)
}

/// Where an incoming message's media is saved: `whatsapp_media/<user>/in/<uuid>-<name>`.
pub fn incoming_path(media_dir: &Path, user_id: i64, filename: &str) -> (PathBuf, String) {
    stored_path(media_dir, &format!("whatsapp_media/{user_id}/in"), filename)
}

/// A file name for incoming media: WhatsApp's (documents have one) through [`safe_filename`], else
/// `<type>.<extension>`.
pub fn incoming_filename(filename: Option<&str>, mimetype: Option<&str>, kind: Option<&str>) -> String {
    if let Some(name) = filename.filter(|n| !n.trim().is_empty()) {
        return safe_filename(name);
    }
    let ext = mimetype
        .map(|m| m.split(';').next().unwrap_or(m).trim())
        .and_then(|m| mime_guess::get_mime_extensions_str(m))
        .and_then(|exts| exts.first().copied())
        .unwrap_or("bin");
    format!("{}.{ext}", kind.unwrap_or("media"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use MessageKind::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    const PDF: &[u8] = b"%PDF-1.7\n";

    /// The first Ogg page of a stream whose first packet starts with `codec` (RFC 3533, RFC 7845).
    pub fn ogg(codec: &[u8]) -> Vec<u8> {
        let mut v = b"OggS\0\x02".to_vec();
        v.extend_from_slice(&[0; 20]);
        v.extend_from_slice(&[1, 19]);
        v.extend_from_slice(codec);
        v.extend_from_slice(&[0; 32]);
        v
    }

    #[test]
    fn sniffing_matches_bytes_to_kinds() {
        assert_eq!(sniff(&Image, PNG, Some("a.png")).unwrap(), "image/png");
        assert!(
            sniff(&Image, PDF, Some("a.png")).is_err(),
            "a PDF named .png is no image"
        );
        assert!(sniff(&Image, b"plain text", None).is_err());
        assert_eq!(sniff(&Document, PDF, None).unwrap(), "application/pdf");
        assert_eq!(sniff(&Document, b"a,b\n1,2", Some("t.csv")).unwrap(), "text/csv");
        assert_eq!(sniff(&Document, b"\x01\x02", None).unwrap(), "application/octet-stream");
    }

    #[test]
    fn voice_notes_are_opus_in_ogg_only() {
        let opus = ogg(b"OpusHead\x01\x01");
        assert_eq!(sniff(&Ptt, &opus, None).unwrap(), VOICE_MIME);
        assert_eq!(sniff(&Audio, &opus, None).unwrap(), VOICE_MIME);
        let vorbis = ogg(b"\x01vorbis");
        let err = sniff(&Ptt, &vorbis, None).unwrap_err().0;
        assert!(err.contains("Vorbis") && err.contains("Opus in Ogg"), "{err}");
        let mp3 = b"ID3\x03\0\0\0\0\0\x21".to_vec();
        assert!(sniff(&Ptt, &mp3, None).unwrap_err().0.contains("media_type=audio"));
        assert_eq!(sniff(&Audio, &mp3, None).unwrap(), "audio/mpeg");
        let wav = b"RIFF\x24\0\0\0WAVEfmt ".to_vec();
        assert!(sniff(&Ptt, &wav, None).is_err());
        assert!(
            sniff(&Audio, &wav, None).is_err(),
            "WhatsApp does not take WAV as audio"
        );
    }

    #[test]
    fn stickers_are_webp_and_images_are_jpeg_or_png() {
        let webp = b"RIFF\x24\0\0\0WEBPVP8 ".to_vec();
        assert_eq!(sniff(&Sticker, &webp, None).unwrap(), "image/webp");
        assert!(sniff(&Sticker, PNG, None).unwrap_err().0.contains("WebP"));
        assert!(sniff(&Image, &webp, None).unwrap_err().0.contains("sticker"));
        let gif = b"GIF89a\x01\0\x01\0".to_vec();
        assert!(sniff(&Image, &gif, None).is_err());
        let jpeg = b"\xff\xd8\xff\xe0\0\x10JFIF".to_vec();
        assert_eq!(sniff(&Image, &jpeg, None).unwrap(), "image/jpeg");
    }

    #[test]
    fn internal_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.5",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "151.101.1.1", "2a00:1450::1"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn file_names_cannot_escape() {
        assert_eq!(safe_filename("../../etc/passwd"), "passwd");
        assert_eq!(safe_filename("..\\..\\boot.ini"), "boot.ini");
        assert_eq!(safe_filename("../"), "file");
        assert_eq!(safe_filename(".hidden"), "hidden");
        assert_eq!(safe_filename("ok name.pdf"), "ok name.pdf");
        assert_eq!(safe_filename("a\u{0}b|c.txt"), "a_b_c.txt");
        assert_eq!(safe_filename("a\r\nb.txt"), "a__b.txt");
        assert_eq!(safe_filename("invoice\u{202E}fdp.exe"), "invoicefdp.exe");
        assert_eq!(safe_filename(&"x".repeat(300)).chars().count(), MAX_FILENAME_CHARS);
        let (path, rel) = upload_path(Path::new("/m"), 7, "../x.png");
        assert!(rel.starts_with("whatsapp_media/7/") && rel.ends_with("-x.png"), "{rel}");
        assert!(path.starts_with("/m/whatsapp_media/7"));
    }

    #[test]
    fn shortening_keeps_the_extension_and_any_script() {
        let long = format!("{}.pdf", "a".repeat(150));
        let short = safe_filename(&long);
        assert_eq!(short.chars().count(), MAX_FILENAME_CHARS);
        assert!(short.ends_with(".pdf"), "{short}");
        assert_eq!(safe_filename("résumé _final_ (1).pdf"), "résumé _final_ (1).pdf");
        assert_eq!(safe_filename("отчёт 2026.xlsx"), "отчёт 2026.xlsx");
        let cjk = format!("{}.docx", "文".repeat(120));
        let short = safe_filename(&cjk);
        assert!(
            short.ends_with(".docx") && short.chars().count() == MAX_FILENAME_CHARS,
            "{short}"
        );
        assert_eq!(incoming_filename(Some("../../x\r\n.pdf"), None, None), "x__.pdf");
    }

    #[test]
    fn downloads_carry_an_ascii_fallback_and_the_exact_name() {
        let header = attachment("résumé _final_ (1).pdf").to_string();
        assert!(header.is_ascii(), "{header}");
        assert!(header.contains("filename=\"resume _final_ (1).pdf\""), "{header}");
        assert!(
            header.contains("filename*=UTF-8''r%C3%A9sum%C3%A9%20_final_%20%281%29.pdf"),
            "{header}"
        );
        assert_eq!(
            attachment("plain.pdf").to_string(),
            "attachment; filename=\"plain.pdf\""
        );
    }
}
