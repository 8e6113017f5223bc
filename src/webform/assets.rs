//! The form's files: templates and static assets built into the binary from `web/` (single-file
//! deployment), replaced or extended by the admin's `[web] templates-dir`, all read once at
//! start-up. Static files get content-hashed URLs so they can be cached for a year.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rust_embed::Embed;

#[derive(Embed)]
#[folder = "web/templates/"]
struct EmbeddedTemplates;

#[derive(Embed)]
#[folder = "web/static/"]
struct EmbeddedStatic;

/// Names longer than this, or with other characters than `[A-Za-z0-9._-]`, are not assets.
const MAX_NAME: usize = 64;
/// An admin file bigger than this is refused at start-up: the page must stay under 50 KB.
const MAX_FILE: u64 = 1024 * 1024;

/// Why the admin's templates directory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: file is larger than 1 MiB", .0.display())]
    TooLarge(PathBuf),
    #[error("{}: template is not UTF-8", .0.display())]
    NotUtf8(PathBuf),
}

/// One static file, ready to serve.
#[derive(Debug, Clone)]
pub struct Asset {
    pub bytes: Cow<'static, [u8]>,
    pub content_type: &'static str,
    /// `/static/NAME?v=HASH`: changes whenever the content does.
    pub url: String,
}

/// Templates by name and static files by name, after applying the admin's overrides.
#[derive(Debug)]
pub struct Assets {
    pub templates: BTreeMap<String, String>,
    pub statics: BTreeMap<String, Asset>,
}

impl Assets {
    /// The built-in files, then every file of `dir` (templates) and `dir/static/` on top.
    /// `generated` are files made from the config (the accent colour's stylesheet).
    pub fn load(dir: Option<&Path>, generated: &[(&str, String)]) -> Result<Assets, AssetError> {
        let mut templates = BTreeMap::new();
        for name in EmbeddedTemplates::iter() {
            if let Some(file) = EmbeddedTemplates::get(&name) {
                let text = String::from_utf8_lossy(&file.data).into_owned();
                templates.insert(name.into_owned(), text);
            }
        }
        let mut raw: BTreeMap<String, Cow<'static, [u8]>> = BTreeMap::new();
        for name in EmbeddedStatic::iter() {
            if let Some(file) = EmbeddedStatic::get(&name) {
                raw.insert(name.into_owned(), file.data);
            }
        }
        for (name, text) in generated {
            raw.insert((*name).to_owned(), Cow::Owned(text.clone().into_bytes()));
        }
        if let Some(dir) = dir {
            for (name, bytes) in read_dir_files(dir)? {
                let text =
                    String::from_utf8(bytes).map_err(|_| AssetError::NotUtf8(dir.join(&name)))?;
                templates.insert(name, text);
            }
            let static_dir = dir.join("static");
            if static_dir.is_dir() {
                for (name, bytes) in read_dir_files(&static_dir)? {
                    raw.insert(name, Cow::Owned(bytes));
                }
            }
        }
        let statics = raw
            .into_iter()
            .filter(|(name, _)| is_asset_name(name))
            .map(|(name, bytes)| {
                let asset = Asset {
                    content_type: content_type(&name),
                    url: format!("/static/{name}?v={:016x}", fnv1a(&bytes)),
                    bytes,
                };
                (name, asset)
            })
            .collect();
        Ok(Assets { templates, statics })
    }
}

/// Regular files directly in `dir` (no recursion, no dot files), read whole.
fn read_dir_files(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, AssetError> {
    let read_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| AssetError::Read { path, source }
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_error(dir))? {
        let entry = entry.map_err(read_error(dir))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let meta = std::fs::metadata(&path).map_err(read_error(&path))?;
        if !meta.is_file() || name.starts_with('.') {
            continue;
        }
        if meta.len() > MAX_FILE {
            return Err(AssetError::TooLarge(path));
        }
        files.push((name, std::fs::read(&path).map_err(read_error(&path))?));
    }
    Ok(files)
}

/// Asset names are matched against a fixed map, never joined to a path, so this only keeps
/// odd file names out of URLs.
pub fn is_asset_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// The handful of types a branded page needs; anything else is served as opaque bytes
/// (with `nosniff`, so a browser will not run it).
fn content_type(name: &str) -> &'static str {
    let extension = name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase());
    match extension.as_deref() {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// FNV-1a, 64 bit: a cache-busting fingerprint, not a security hash.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_files_are_embedded_with_types_and_versions() {
        let assets = Assets::load(None, &[("theme.css", ":root{}".into())]).unwrap();
        assert!(assets.templates.contains_key("index.html"));
        let css = &assets.statics["style.css"];
        assert_eq!(css.content_type, "text/css; charset=utf-8");
        assert!(css.url.starts_with("/static/style.css?v="));
        assert_eq!(
            assets.statics["form.js"].content_type,
            "text/javascript; charset=utf-8"
        );
        assert_eq!(&*assets.statics["theme.css"].bytes, b":root{}");
    }

    #[test]
    fn admin_directory_overrides_and_adds() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "custom {{ provider }}").unwrap();
        std::fs::create_dir(dir.path().join("static")).unwrap();
        std::fs::write(dir.path().join("static/style.css"), "body{}").unwrap();
        std::fs::write(dir.path().join("static/logo.png"), b"\x89PNG").unwrap();
        std::fs::write(dir.path().join("static/bad name.txt"), b"x").unwrap();
        let assets = Assets::load(Some(dir.path()), &[]).unwrap();
        assert_eq!(assets.templates["index.html"], "custom {{ provider }}");
        assert_eq!(&*assets.statics["style.css"].bytes, b"body{}");
        assert_eq!(assets.statics["logo.png"].content_type, "image/png");
        assert!(assets.statics.contains_key("form.js"), "built-ins stay");
        assert!(!assets.statics.contains_key("bad name.txt"));
    }

    #[test]
    fn asset_names_are_plain() {
        for good in ["style.css", "logo-2.png", "a_b.js"] {
            assert!(is_asset_name(good), "{good}");
        }
        for bad in ["", "../x", "a/b", ".env", "a b", "x%2f"] {
            assert!(!is_asset_name(bad), "{bad}");
        }
    }
}
