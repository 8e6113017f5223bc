//! Reading the small files a configuration names (certificates, keys, PKCS#12 bundles,
//! password files, CA files): regular files only, and at most [`SMALL_FILE_LIMIT`] bytes. A
//! path to a device (`/dev/zero`) or a FIFO would otherwise hang `check-config` or the server's
//! start, or read without end. Used by `signing` and `config`; depends on nothing.

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// Far above any certificate chain, key or bundle (a few KiB each).
pub const SMALL_FILE_LIMIT: u64 = 1024 * 1024;

/// The contents of the regular file at `path`, refused when it is anything else (device,
/// FIFO, directory, socket) or larger than [`SMALL_FILE_LIMIT`]. Opened non-blocking, so a
/// FIFO cannot stall the open itself; the type is checked on the opened file, not the name.
pub fn read_small(path: &Path) -> io::Result<Vec<u8>> {
    let file: File = OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut bytes = Vec::new();
    file.take(SMALL_FILE_LIMIT + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > SMALL_FILE_LIMIT {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("larger than {} KiB", SMALL_FILE_LIMIT / 1024),
        ));
    }
    Ok(bytes)
}

/// [`read_small`] as UTF-8 text.
pub fn read_small_text(path: &Path) -> io::Result<String> {
    String::from_utf8(read_small(path)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_directories_and_large_files_are_refused() {
        for path in ["/dev/zero", "/dev/null", "/"] {
            let error = read_small(Path::new(path)).unwrap_err();
            assert_eq!(error.to_string(), "not a regular file", "{path}");
        }
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        assert_eq!(
            read_small(&fifo).unwrap_err().to_string(),
            "not a regular file",
            "a FIFO without a writer, refused without waiting for one"
        );
        let large = dir.path().join("large.pem");
        std::fs::write(&large, vec![b'a'; SMALL_FILE_LIMIT as usize + 1]).unwrap();
        assert_eq!(
            read_small(&large).unwrap_err().to_string(),
            "larger than 1024 KiB"
        );
        let fits = dir.path().join("fits.pem");
        std::fs::write(&fits, "-----BEGIN").unwrap();
        assert_eq!(read_small_text(&fits).unwrap(), "-----BEGIN");
    }
}
