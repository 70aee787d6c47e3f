//! Portable browser profiles: the parts of a Chromium profile that hold a WhatsApp link, packed
//! as a zstd-compressed tar, so another node can restore the session without a new QR.
//!
//! What is kept (paths relative to `--user-data-dir`): WhatsApp Web keeps its keys and
//! credentials in IndexedDB and mirrors some in Local Storage; its Service Worker registration is
//! small and avoids a cold start. Caches (`Cache`, `Code Cache`, the Service Worker's
//! `CacheStorage`), GPU and crash data are left out: they are large and rebuilt on load.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Parts of the profile archived, relative to the user-data-dir. A missing one is skipped.
pub const PARTS: &[&str] = &[
    "Default/IndexedDB",
    "Default/Local Storage",
    "Default/Service Worker/Database",
    "Default/Service Worker/ScriptCache",
    "Default/Cookies",
    "Default/Preferences",
    "Local State",
];

/// Under a profile: the archive key it was last archived to or restored from.
const MARKER: &str = ".wagate-archive";

/// zstd level: the archive is small (a few hundred KiB); level 9 costs a few ms more than 3.
const LEVEL: i32 = 9;

/// Packs the profile's [`PARTS`] into a `.tar.zst`. Files vanishing while the browser runs are
/// skipped. Errors: the profile cannot be read at all.
pub fn archive(profile: &Path) -> std::io::Result<Vec<u8>> {
    let encoder = zstd::stream::write::Encoder::new(Vec::new(), LEVEL)?;
    let mut tar = tar::Builder::new(encoder);
    tar.follow_symlinks(false);
    for part in PARTS {
        let path = profile.join(part);
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            append_dir(&mut tar, profile, &path)?;
        } else if meta.is_file() {
            append_file(&mut tar, profile, &path)?;
        }
    }
    tar.into_inner()?.finish()
}

fn append_dir<W: std::io::Write>(tar: &mut tar::Builder<W>, root: &Path, dir: &Path) -> std::io::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            append_dir(tar, root, &path)?;
        } else if meta.is_file() {
            append_file(tar, root, &path)?;
        }
    }
    Ok(())
}

fn append_file<W: std::io::Write>(tar: &mut tar::Builder<W>, root: &Path, path: &Path) -> std::io::Result<()> {
    // LevelDB's LOCK belongs to the running browser.
    if path.file_name().is_some_and(|n| n == "LOCK") {
        return Ok(());
    }
    let Ok(rel) = path.strip_prefix(root) else {
        return Ok(());
    };
    // Read whole, then append: a file that changes size while being read would corrupt the tar.
    let mut data = Vec::new();
    match std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut data)) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o600);
    header.set_cksum();
    tar.append_data(&mut header, rel, data.as_slice())
}

/// Replaces `profile` with the archive's content (mode 0700). Entries that would land outside
/// the profile are refused by `tar` (`unpack_in`).
pub fn restore(bytes: &[u8], profile: &Path, key: &str) -> std::io::Result<usize> {
    if let Err(e) = std::fs::remove_dir_all(profile)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        return Err(e);
    }
    make_private_dir(profile)?;
    let decoder = zstd::stream::read::Decoder::new(bytes)?;
    let mut tar = tar::Archive::new(decoder);
    let mut files = 0;
    for entry in tar.entries()? {
        let mut entry = entry?;
        if entry.unpack_in(profile)? {
            files += 1;
        }
    }
    mark(profile, key)?;
    Ok(files)
}

/// Records which archive the profile matches (written after an archive or a restore).
pub fn mark(profile: &Path, key: &str) -> std::io::Result<()> {
    std::fs::write(profile.join(MARKER), key)
}

/// The archive key the local profile matches, if any.
pub fn marked(profile: &Path) -> Option<String> {
    std::fs::read_to_string(profile.join(MARKER)).ok()
}

/// A cheap fingerprint of the archived parts (sizes and modification times): a changed one means
/// WhatsApp's storage changed since the last archive.
pub fn fingerprint(profile: &Path) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut stack: Vec<PathBuf> = PARTS.iter().map(|p| profile.join(p)).collect();
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            let mut children: Vec<PathBuf> = std::fs::read_dir(&path)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .collect();
            children.sort();
            stack.extend(children);
        } else {
            path.hash(&mut h);
            meta.len().hash(&mut h);
            meta.modified().ok().hash(&mut h);
        }
    }
    h.finish()
}

fn make_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_keeps_the_link_parts_only_and_restores_them() {
        let src = tempfile::tempdir().unwrap();
        let p = src.path();
        std::fs::create_dir_all(p.join("Default/IndexedDB/http_127.0.0.1_1.indexeddb.leveldb")).unwrap();
        std::fs::write(
            p.join("Default/IndexedDB/http_127.0.0.1_1.indexeddb.leveldb/000003.log"),
            b"creds",
        )
        .unwrap();
        std::fs::write(p.join("Default/IndexedDB/http_127.0.0.1_1.indexeddb.leveldb/LOCK"), b"").unwrap();
        std::fs::create_dir_all(p.join("Default/Local Storage/leveldb")).unwrap();
        std::fs::write(p.join("Default/Local Storage/leveldb/000005.ldb"), b"mirror").unwrap();
        std::fs::create_dir_all(p.join("Default/Cache/Cache_Data")).unwrap();
        std::fs::write(p.join("Default/Cache/Cache_Data/big"), vec![7u8; 100_000]).unwrap();
        let before = fingerprint(p);

        let bytes = archive(p).unwrap();
        assert!(bytes.len() < 10_000, "the cache is left out: {} bytes", bytes.len());

        let dst = tempfile::tempdir().unwrap();
        let profile = dst.path().join("profile");
        std::fs::create_dir_all(profile.join("stale")).unwrap();
        let files = restore(&bytes, &profile, "profiles/1/a").unwrap();
        assert_eq!(files, 2);
        assert_eq!(
            std::fs::read(profile.join("Default/IndexedDB/http_127.0.0.1_1.indexeddb.leveldb/000003.log")).unwrap(),
            b"creds"
        );
        assert!(profile.join("Default/Local Storage/leveldb/000005.ldb").exists());
        assert!(!profile.join("Default/Cache").exists() && !profile.join("stale").exists());
        assert_eq!(marked(&profile).as_deref(), Some("profiles/1/a"));

        std::fs::write(p.join("Default/Local Storage/leveldb/000006.log"), b"more").unwrap();
        assert_ne!(fingerprint(p), before, "a new file changes the fingerprint");
    }
}
