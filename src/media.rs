//! Media files: the kinds WhatsApp accepts, sniffing bytes against the declared kind, safe file
//! names, and where uploads are kept (`<media.dir>/whatsapp_media/<user>/<file>`).

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Image,
    Video,
    Audio,
    Voice,
    Document,
}

impl MediaKind {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "image" => MediaKind::Image,
            "video" => MediaKind::Video,
            "audio" => MediaKind::Audio,
            "voice" | "ptt" => MediaKind::Voice,
            "document" | "file" => MediaKind::Document,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
            MediaKind::Voice => "ptt",
            MediaKind::Document => "document",
        }
    }

    /// Whether content of this MIME type may be sent as this kind.
    fn accepts(self, mime: &str) -> bool {
        match self {
            MediaKind::Image => matches!(mime, "image/jpeg" | "image/png" | "image/webp" | "image/gif"),
            MediaKind::Video => matches!(mime, "video/mp4" | "video/3gpp" | "video/quicktime" | "video/webm"),
            MediaKind::Audio | MediaKind::Voice => {
                mime.starts_with("audio/") || mime == "video/mp4" || mime == "application/ogg"
            }
            MediaKind::Document => true,
        }
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SniffError(pub String);

/// The MIME type of `head` (the first bytes of a file) if it may be sent as `kind`. Documents
/// take anything: their type comes from the bytes, else the file name, else octet-stream.
pub fn sniff(kind: MediaKind, head: &[u8], filename: Option<&str>) -> Result<String, SniffError> {
    let sniffed = infer::get(head).map(|t| t.mime_type().to_string());
    let mime = match (kind, sniffed) {
        (_, Some(m)) => m,
        (MediaKind::Document, None) => filename
            .and_then(|f| mime_guess::from_path(f).first_raw())
            .unwrap_or("application/octet-stream")
            .to_string(),
        (k, None) => {
            return Err(SniffError(format!(
                "the file's bytes are not a recognisable {} file",
                k.as_str()
            )));
        }
    };
    // Opus voice notes come as Ogg; infer names that audio/ogg.
    if kind.accepts(&mime) {
        Ok(mime)
    } else {
        Err(SniffError(format!(
            "the file is {mime}, which cannot be sent as {}",
            kind.as_str()
        )))
    }
}

/// A file name safe to store and to show: no directories, no leading dots, no control or
/// path characters, at most 100 characters. Empty input gives `file`.
pub fn safe_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .map(|c| {
            if c.is_control() || "<>:\"|?*".contains(c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim();
    let mut out: String = trimmed.chars().take(100).collect();
    if out.is_empty() {
        out = "file".into();
    }
    out
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

/// A file name for incoming media: WhatsApp's (documents have one), else `<type>.<extension>`.
pub fn incoming_filename(filename: Option<&str>, mimetype: Option<&str>, kind: Option<&str>) -> String {
    if let Some(name) = filename.filter(|n| !n.trim().is_empty()) {
        return name.to_string();
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

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    const PDF: &[u8] = b"%PDF-1.7\n";
    const OGG: &[u8] = b"OggS\0\x02\0\0\0\0\0\0\0\0";

    #[test]
    fn sniffing_matches_bytes_to_kinds() {
        assert_eq!(sniff(MediaKind::Image, PNG, Some("a.png")).unwrap(), "image/png");
        assert!(
            sniff(MediaKind::Image, PDF, Some("a.png")).is_err(),
            "a PDF named .png is no image"
        );
        assert!(sniff(MediaKind::Image, b"plain text", None).is_err());
        assert!(sniff(MediaKind::Voice, OGG, None).unwrap().contains("ogg"));
        assert_eq!(sniff(MediaKind::Document, PDF, None).unwrap(), "application/pdf");
        assert_eq!(
            sniff(MediaKind::Document, b"a,b\n1,2", Some("t.csv")).unwrap(),
            "text/csv"
        );
        assert_eq!(
            sniff(MediaKind::Document, b"\x01\x02", None).unwrap(),
            "application/octet-stream"
        );
        assert_eq!(MediaKind::parse("voice"), Some(MediaKind::Voice));
        assert_eq!(MediaKind::parse("sticker"), None);
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
        assert_eq!(safe_filename(&"x".repeat(300)).len(), 100);
        let (path, rel) = upload_path(Path::new("/m"), 7, "../x.png");
        assert!(rel.starts_with("whatsapp_media/7/") && rel.ends_with("-x.png"), "{rel}");
        assert!(path.starts_with("/m/whatsapp_media/7"));
    }
}
