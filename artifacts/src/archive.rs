//! Tarballs in Flux's formats and their safe extraction.
//!
//! Both formats hold a root entry `.`, relative slash-separated names in lexical walk order,
//! uid/gid 0, no owner names and zero timestamps, and leave out everything that is not a
//! regular file or a directory. They differ in modes: the CLI keeps them
//! ([`ModePolicy::Keep`], `flux push artifact`), source-controller normalises them
//! ([`ModePolicy::Normalise`]). Headers are written as Go's `archive/tar` writes them, so the
//! tar stream of a tree is the same bytes Flux produces.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use flate2::read::GzDecoder;
use gzp::deflate::Gzip;
use gzp::par::compress::{ParCompress, ParCompressBuilder};
use gzp::{Compression, ZWriter};
use sha2::{Digest, Sha256};

use crate::sourceignore::{IgnoreError, IgnoreRules};

/// How file modes are written into the archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModePolicy {
    /// The permission bits of the file system (`flux push artifact`).
    Keep,
    /// Directories 0750, files 0600, executables 0700 (source-controller's storage).
    Normalise,
}

#[derive(Clone, Copy, Debug)]
pub struct TarOptions {
    pub modes: ModePolicy,
    /// Archive what symlinks point to instead of leaving them out.
    pub resolve_symlinks: bool,
    /// Compress on every core (large trees from the CLI), or on the calling thread only
    /// (controllers archiving many small trees, where extra threads cost more than they save).
    pub parallel: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Ignore(#[from] IgnoreError),
    #[error("symlink loop at {0}")]
    SymlinkLoop(PathBuf),
    #[error("archive is not gzip-compressed")]
    NotGzip,
    #[error("reading the archive: {0}")]
    Read(io::Error),
    #[error("archive entry {name:?} is outside the target directory")]
    Escape { name: String },
    #[error("archive entry {name:?} would be written through a symlink at {at}")]
    ThroughSymlink { name: String, at: PathBuf },
    #[error("archive expands to more than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("archive has more than {limit} entries")]
    TooManyEntries { limit: u64 },
    #[error("{path} is not a directory")]
    NotADirectory { path: PathBuf },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> ArchiveError + '_ {
    move |source| ArchiveError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A writer that hashes and counts what passes through it.
pub struct DigestWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> DigestWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The inner writer, the `sha256:<hex>` digest and the byte count.
    pub fn finish(self) -> (W, String, u64) {
        (
            self.inner,
            format!("sha256:{:x}", self.hasher.finalize()),
            self.written,
        )
    }
}

impl<W: Write> Write for DigestWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// `sha256:<hex>` of a reader's bytes.
pub fn sha256_digest(mut reader: impl Read) -> io::Result<String> {
    let mut writer = DigestWriter::new(io::sink());
    io::copy(&mut reader, &mut writer)?;
    Ok(writer.finish().1)
}

/// Writes `root` as a gzip-compressed tarball into `out`; returns `out` and the digest of
/// the uncompressed tar stream (the OCI layer's diff ID).
///
/// Compression runs on every core (pigz's scheme: independent blocks primed with the previous
/// block's tail, one gzip member), at the default level. The output does not depend on the
/// number of threads, so the same tree always gives the same bytes.
pub fn write_tar_gz<W: Write + Send + 'static>(
    root: &Path,
    rules: &IgnoreRules,
    options: TarOptions,
    out: W,
) -> Result<(W, String), ArchiveError> {
    let gz = if options.parallel {
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let parallel: ParCompress<'static, Gzip, W> = ParCompressBuilder::new()
            .num_threads(threads)
            .map_err(gzip_error)?
            .compression_level(Compression::new(6))
            .from_writer(out);
        Gzipper::Parallel(parallel)
    } else {
        Gzipper::Single(flate2::write::GzEncoder::new(
            out,
            flate2::Compression::default(),
        ))
    };
    let mut builder = tar::Builder::new(DigestWriter::new(gz));
    let mut walk = Walk {
        options,
        builder: &mut builder,
        ancestors: HashSet::new(),
    };
    let meta = fs::metadata(root).map_err(io_at(root))?;
    if !meta.is_dir() {
        return Err(ArchiveError::NotADirectory {
            path: root.to_owned(),
        });
    }
    walk.dir(root, Path::new("."), &meta, &rules.enter(root)?)?;
    let (gz, diff_id, _) = builder.into_inner().map_err(io_at(root))?.finish();
    Ok((gz.finish()?, diff_id))
}

/// A gzip stream compressed on every core or on the calling thread.
enum Gzipper<W: Write + Send + 'static> {
    Parallel(ParCompress<'static, Gzip, W>),
    Single(flate2::write::GzEncoder<W>),
}

impl<W: Write + Send + 'static> Gzipper<W> {
    fn finish(self) -> Result<W, ArchiveError> {
        match self {
            Gzipper::Parallel(mut gz) => gz.finish().map_err(gzip_error),
            Gzipper::Single(gz) => gz.finish().map_err(ArchiveError::Read),
        }
    }
}

impl<W: Write + Send + 'static> Write for Gzipper<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Gzipper::Parallel(gz) => gz.write(buf),
            Gzipper::Single(gz) => gz.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Gzipper::Parallel(gz) => gz.flush(),
            Gzipper::Single(gz) => gz.flush(),
        }
    }
}

fn gzip_error(e: gzp::GzpError) -> ArchiveError {
    ArchiveError::Read(io::Error::other(format!("gzip compression: {e}")))
}

struct Walk<'a, W: Write> {
    options: TarOptions,
    builder: &'a mut tar::Builder<DigestWriter<W>>,
    /// Canonical directories on the current path, to stop symlink loops.
    ancestors: HashSet<PathBuf>,
}

impl<W: Write> Walk<'_, W> {
    fn dir(
        &mut self,
        path: &Path,
        name: &Path,
        meta: &fs::Metadata,
        rules: &IgnoreRules,
    ) -> Result<(), ArchiveError> {
        let canonical = fs::canonicalize(path).map_err(io_at(path))?;
        if !self.ancestors.insert(canonical.clone()) {
            return Err(ArchiveError::SymlinkLoop(path.to_owned()));
        }
        self.append(name, meta, None)?;
        let mut children: Vec<_> = fs::read_dir(path)
            .map_err(io_at(path))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(io_at(path))?;
        // filepath.Walk order: byte-wise by name.
        children.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
        for child in children {
            let child_path = path.join(&child);
            let child_name = if name == Path::new(".") {
                PathBuf::from(&child)
            } else {
                name.join(&child)
            };
            let mut meta = fs::symlink_metadata(&child_path).map_err(io_at(&child_path))?;
            if meta.file_type().is_symlink() {
                if !self.options.resolve_symlinks {
                    continue;
                }
                meta = match fs::metadata(&child_path) {
                    Ok(meta) => meta,
                    // A dangling link has nothing to archive.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => {
                        return Err(ArchiveError::Io {
                            path: child_path,
                            source: e,
                        });
                    }
                };
            }
            if rules.is_ignored(&child_path, meta.is_dir()) {
                continue;
            }
            if meta.is_dir() {
                let child_rules = rules.enter(&child_path)?;
                self.dir(&child_path, &child_name, &meta, &child_rules)?;
            } else if meta.is_file() {
                let file = File::open(&child_path).map_err(io_at(&child_path))?;
                self.append(&child_name, &meta, Some(file))?;
            }
        }
        self.ancestors.remove(&canonical);
        Ok(())
    }

    fn append(
        &mut self,
        name: &Path,
        meta: &fs::Metadata,
        file: Option<File>,
    ) -> Result<(), ArchiveError> {
        let perm = meta.permissions().mode() & 0o7777;
        let mode = match (self.options.modes, meta.is_dir()) {
            (ModePolicy::Keep, _) => perm & 0o777,
            (ModePolicy::Normalise, true) => 0o750,
            (ModePolicy::Normalise, false) if perm & 0o111 != 0 => 0o700,
            (ModePolicy::Normalise, false) => 0o600,
        };
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(if meta.is_dir() {
            tar::EntryType::Directory
        } else {
            tar::EntryType::Regular
        });
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(if meta.is_dir() { 0 } else { meta.len() });
        header
            .set_device_major(0)
            .and_then(|()| header.set_device_minor(0))
            .map_err(io_at(name))?;
        let data: Box<dyn Read> = match file {
            Some(file) => Box::new(file.take(meta.len())),
            None => Box::new(io::empty()),
        };
        if header.set_path(name).is_ok() {
            header.set_cksum();
            go_checksum_field(&mut header);
            self.builder.append(&header, data)
        } else {
            // Longer than USTAR allows: the tar crate's GNU long-name entry.
            self.builder.append_data(&mut header, name, data)
        }
        .map_err(io_at(name))
    }
}

/// Go writes the checksum as six octal digits, a NUL and a space; the tar crate as seven
/// digits and a NUL. The value is the same; only the field's bytes differ.
fn go_checksum_field(header: &mut tar::Header) {
    let cksum = header.cksum().expect("checksum was just written");
    let field = format!("{cksum:06o}\0 ");
    header.as_old_mut().cksum.copy_from_slice(field.as_bytes());
}

/// Bounds on what an extraction may write.
#[derive(Clone, Copy, Debug)]
pub struct ExtractLimits {
    pub max_bytes: u64,
    pub max_entries: u64,
    /// Leave out entries that would land outside the target (`..`, absolute names) instead
    /// of failing, as source-controller does with untrusted layers.
    pub skip_escaping_entries: bool,
}

impl Default for ExtractLimits {
    fn default() -> Self {
        Self {
            max_bytes: 4 << 30,
            max_entries: 1_000_000,
            skip_escaping_entries: false,
        }
    }
}

/// What an extraction wrote and what it left out.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ExtractSummary {
    pub files: u64,
    pub dirs: u64,
    pub bytes: u64,
    /// Symlinks, hard links, devices and other entries that are never extracted.
    pub skipped: Vec<String>,
}

/// Whether the bytes start like a gzip stream.
pub fn is_gzip(head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b])
}

/// Moves everything in `staging` into `target`, replacing files of the same name (a symlink
/// in the way is removed, never followed) and merging directories.
pub fn move_into(staging: &Path, target: &Path) -> Result<(), ArchiveError> {
    for entry in fs::read_dir(staging).map_err(io_at(staging))? {
        let entry = entry.map_err(io_at(staging))?;
        let from = entry.path();
        let to = target.join(entry.file_name());
        let from_is_dir = entry.file_type().map_err(io_at(&from))?.is_dir();
        match fs::symlink_metadata(&to) {
            Ok(meta) if meta.is_dir() && from_is_dir => {
                move_into(&from, &to)?;
                continue;
            }
            Ok(meta) if meta.is_dir() => fs::remove_dir_all(&to).map_err(io_at(&to))?,
            Ok(_) => fs::remove_file(&to).map_err(io_at(&to))?,
            Err(_) => {}
        }
        fs::rename(&from, &to).map_err(io_at(&to))?;
    }
    Ok(())
}

/// Extracts a gzip-compressed tarball into `dest` (created if missing). No entry can land
/// outside `dest`: absolute names and `..` are refused, links are skipped, nothing is written
/// through an existing symlink, and the total size and entry count are bounded.
pub fn extract_tar_gz(
    reader: impl Read,
    dest: &Path,
    limits: ExtractLimits,
) -> Result<ExtractSummary, ArchiveError> {
    let mut gz = io::BufReader::new(GzDecoder::new(reader));
    let mut archive = tar::Archive::new(&mut gz);
    fs::create_dir_all(dest).map_err(io_at(dest))?;
    let mut summary = ExtractSummary::default();
    let mut known_dirs: HashSet<PathBuf> = HashSet::new();
    let mut entries = 0u64;
    // Large reads and writes: far fewer system calls than io::copy's 8 KiB for big files.
    let mut buffer = vec![0u8; 256 * 1024];
    let entries_iter = archive.entries().map_err(gzip_or_read)?;
    for entry in entries_iter {
        let mut entry = entry.map_err(gzip_or_read)?;
        entries += 1;
        if entries > limits.max_entries {
            return Err(ArchiveError::TooManyEntries {
                limit: limits.max_entries,
            });
        }
        let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            if !(kind.is_pax_global_extensions() || kind.is_pax_local_extensions()) {
                summary.skipped.push(raw_name);
            }
            continue;
        }
        let relative = match safe_relative(&raw_name) {
            Err(ArchiveError::Escape { .. }) if limits.skip_escaping_entries => {
                summary.skipped.push(raw_name);
                continue;
            }
            other => other?,
        };
        if relative.as_os_str().is_empty() {
            continue;
        }
        let target = dest.join(&relative);
        ensure_real_dirs(dest, &relative, &raw_name, &mut known_dirs)?;
        let mode = entry.header().mode().unwrap_or(0o644) & 0o777;
        if kind.is_dir() {
            match fs::symlink_metadata(&target) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(ArchiveError::ThroughSymlink {
                        name: raw_name,
                        at: target,
                    });
                }
                Err(_) => fs::create_dir(&target).map_err(io_at(&target))?,
            }
            fs::set_permissions(&target, fs::Permissions::from_mode(mode | 0o700))
                .map_err(io_at(&target))?;
            known_dirs.insert(relative);
            summary.dirs += 1;
            continue;
        }
        if let Ok(m) = fs::symlink_metadata(&target)
            && (m.file_type().is_symlink() || m.is_dir())
        {
            return Err(ArchiveError::ThroughSymlink {
                name: raw_name,
                at: target,
            });
        }
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode | 0o600)
            .open(&target)
            .map_err(io_at(&target))?;
        let remaining = limits.max_bytes - summary.bytes;
        let copied = copy_with(
            &mut buffer,
            &mut (&mut entry).take(remaining + 1),
            &mut file,
        )
        .map_err(ArchiveError::Read)?;
        summary.bytes += copied;
        if summary.bytes > limits.max_bytes {
            drop(file);
            let _ = fs::remove_file(&target);
            return Err(ArchiveError::TooLarge {
                limit: limits.max_bytes,
            });
        }
        summary.files += 1;
    }
    Ok(summary)
}

fn copy_with(buffer: &mut [u8], from: &mut impl Read, to: &mut impl Write) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        let n = match from.read(buffer) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buffer[..n])?;
        total += n as u64;
    }
}

fn gzip_or_read(e: io::Error) -> ArchiveError {
    if e.kind() == io::ErrorKind::InvalidInput && e.to_string().contains("header") {
        ArchiveError::NotGzip
    } else {
        ArchiveError::Read(e)
    }
}

/// The entry's path relative to the target, or an error if it could leave it.
fn safe_relative(name: &str) -> Result<PathBuf, ArchiveError> {
    let mut out = PathBuf::new();
    for component in Path::new(name).components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(ArchiveError::Escape {
                    name: name.to_owned(),
                });
            }
        }
    }
    Ok(out)
}

/// Creates the parents of `relative` under `dest`, refusing to pass through symlinks.
fn ensure_real_dirs(
    dest: &Path,
    relative: &Path,
    name: &str,
    known: &mut HashSet<PathBuf>,
) -> Result<(), ArchiveError> {
    let Some(parent) = relative.parent() else {
        return Ok(());
    };
    let mut partial = PathBuf::new();
    for component in parent.components() {
        partial.push(component);
        if known.contains(&partial) {
            continue;
        }
        let at = dest.join(&partial);
        match fs::symlink_metadata(&at) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(ArchiveError::ThroughSymlink {
                    name: name.to_owned(),
                    at,
                });
            }
            Err(_) => {
                fs::create_dir(&at).map_err(io_at(&at))?;
                fs::set_permissions(&at, fs::Permissions::from_mode(0o750)).map_err(io_at(&at))?;
            }
        }
        known.insert(partial.clone());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sourceignore::default_cli_patterns;
    use std::os::unix::fs::symlink;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("deploy/nested")).unwrap();
        fs::write(root.join("deploy/app.yaml"), "kind: ConfigMap\n").unwrap();
        fs::write(root.join("deploy/nested/run.sh"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(
            root.join("deploy/nested/run.sh"),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        fs::write(root.join("logo.png"), [0u8; 4]).unwrap();
        fs::create_dir(root.join(".git")).unwrap();
        fs::write(root.join(".git/HEAD"), "ref").unwrap();
        symlink("deploy/app.yaml", root.join("link.yaml")).unwrap();
        dir
    }

    fn entries(bytes: &[u8]) -> Vec<(String, u32, u64, u64, tar::EntryType)> {
        let mut archive = tar::Archive::new(GzDecoder::new(bytes));
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    String::from_utf8(e.path_bytes().into_owned()).unwrap(),
                    h.mode().unwrap(),
                    h.mtime().unwrap(),
                    h.uid().unwrap() + h.gid().unwrap(),
                    h.entry_type(),
                )
            })
            .collect()
    }

    fn build(root: &Path, options: TarOptions) -> Vec<u8> {
        let rules = IgnoreRules::new(root, default_cli_patterns()).unwrap();
        write_tar_gz(root, &rules, options, Vec::new()).unwrap().0
    }

    #[test]
    fn cli_archive_keeps_modes_and_drops_ignored_files_and_symlinks() {
        let dir = tree();
        let bytes = build(
            dir.path(),
            TarOptions {
                modes: ModePolicy::Keep,
                resolve_symlinks: false,
                parallel: true,
            },
        );
        let names: Vec<_> = entries(&bytes).into_iter().map(|e| (e.0, e.1)).collect();
        let dir_mode = fs::metadata(dir.path().join("deploy"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        let file_mode = fs::metadata(dir.path().join("deploy/app.yaml"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(
            names,
            vec![
                (
                    ".".to_owned(),
                    fs::metadata(dir.path()).unwrap().permissions().mode() & 0o777
                ),
                ("deploy".to_owned(), dir_mode),
                ("deploy/app.yaml".to_owned(), file_mode),
                ("deploy/nested".to_owned(), dir_mode),
                ("deploy/nested/run.sh".to_owned(), 0o755),
            ]
        );
        assert!(entries(&bytes).iter().all(|e| e.2 == 0 && e.3 == 0));
    }

    #[test]
    fn storage_archive_normalises_modes() {
        let dir = tree();
        let bytes = build(
            dir.path(),
            TarOptions {
                modes: ModePolicy::Normalise,
                resolve_symlinks: false,
                parallel: true,
            },
        );
        let modes: Vec<_> = entries(&bytes).into_iter().map(|e| e.1).collect();
        assert_eq!(modes, vec![0o750, 0o750, 0o600, 0o750, 0o700]);
    }

    #[test]
    fn resolved_symlinks_are_archived_as_their_targets() {
        let dir = tree();
        let bytes = build(
            dir.path(),
            TarOptions {
                modes: ModePolicy::Keep,
                resolve_symlinks: true,
                parallel: true,
            },
        );
        assert!(
            entries(&bytes)
                .iter()
                .any(|e| e.0 == "link.yaml" && e.4.is_file())
        );
    }

    #[test]
    fn single_threaded_compression_gives_the_same_entries() {
        let dir = tree();
        let parallel = TarOptions {
            modes: ModePolicy::Keep,
            resolve_symlinks: false,
            parallel: true,
        };
        let single = TarOptions {
            parallel: false,
            ..parallel
        };
        let names = |bytes: Vec<u8>| entries(&bytes).into_iter().map(|e| e.0).collect::<Vec<_>>();
        assert_eq!(
            names(build(dir.path(), parallel)),
            names(build(dir.path(), single))
        );
        assert_eq!(build(dir.path(), single), build(dir.path(), single));
    }

    #[test]
    fn the_same_tree_gives_the_same_bytes() {
        let dir = tree();
        let options = TarOptions {
            modes: ModePolicy::Keep,
            resolve_symlinks: false,
            parallel: true,
        };
        assert_eq!(build(dir.path(), options), build(dir.path(), options));
    }

    #[test]
    fn headers_are_go_ustar() {
        let dir = tree();
        let bytes = build(
            dir.path(),
            TarOptions {
                modes: ModePolicy::Keep,
                resolve_symlinks: false,
                parallel: true,
            },
        );
        let mut raw = Vec::new();
        GzDecoder::new(&bytes[..]).read_to_end(&mut raw).unwrap();
        let first = &raw[..512];
        assert_eq!(&first[0..2], b".\0");
        assert_eq!(&first[257..265], b"ustar\x0000");
        assert_eq!(first[148 + 6], 0);
        assert_eq!(first[148 + 7], b' ');
        assert_eq!(&first[136..148], b"00000000000\0");
    }

    fn tar_gz(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        build(&mut builder);
        let raw = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&raw).unwrap();
        gz.finish().unwrap()
    }

    fn raw_entry(
        builder: &mut tar::Builder<Vec<u8>>,
        name: &str,
        kind: tar::EntryType,
        data: &[u8],
    ) {
        let mut header = tar::Header::new_gnu();
        // Written byte by byte: the tar crate refuses to *create* the names under test.
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        if kind == tar::EntryType::Symlink {
            header.set_link_name("/etc/passwd").unwrap();
        }
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }

    #[test]
    fn extraction_refuses_parent_escapes() {
        let out = tempfile::tempdir().unwrap();
        let bytes = tar_gz(|b| raw_entry(b, "../evil.txt", tar::EntryType::Regular, b"x"));
        let err = extract_tar_gz(&bytes[..], &out.path().join("t"), ExtractLimits::default());
        assert!(matches!(err, Err(ArchiveError::Escape { .. })), "{err:?}");
        assert!(!out.path().join("evil.txt").exists());
    }

    #[test]
    fn escaping_entries_can_be_skipped_instead() {
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("t");
        let bytes = tar_gz(|b| {
            raw_entry(b, "../evil.txt", tar::EntryType::Regular, b"x");
            raw_entry(b, "good.txt", tar::EntryType::Regular, b"y");
        });
        let limits = ExtractLimits {
            skip_escaping_entries: true,
            ..ExtractLimits::default()
        };
        let summary = extract_tar_gz(&bytes[..], &target, limits).unwrap();
        assert_eq!(summary.skipped, vec!["../evil.txt".to_owned()]);
        assert!(target.join("good.txt").exists() && !out.path().join("evil.txt").exists());
    }

    #[test]
    fn extraction_refuses_absolute_names() {
        let out = tempfile::tempdir().unwrap();
        let bytes = tar_gz(|b| raw_entry(b, "/tmp/evil.txt", tar::EntryType::Regular, b"x"));
        let err = extract_tar_gz(&bytes[..], out.path(), ExtractLimits::default());
        assert!(matches!(err, Err(ArchiveError::Escape { .. })), "{err:?}");
    }

    #[test]
    fn extraction_skips_links_and_never_writes_through_them() {
        let out = tempfile::tempdir().unwrap();
        let bytes = tar_gz(|b| {
            raw_entry(b, "ok.txt", tar::EntryType::Regular, b"fine");
            raw_entry(b, "link", tar::EntryType::Symlink, b"");
            raw_entry(b, "hard", tar::EntryType::Link, b"");
        });
        let summary = extract_tar_gz(&bytes[..], out.path(), ExtractLimits::default()).unwrap();
        assert_eq!(summary.files, 1);
        assert_eq!(summary.skipped, vec!["link".to_owned(), "hard".to_owned()]);
        assert!(fs::symlink_metadata(out.path().join("link")).is_err());

        // A symlink already in the target is not followed.
        let target = tempfile::tempdir().unwrap();
        symlink(target.path(), out.path().join("sub")).unwrap();
        let bytes = tar_gz(|b| raw_entry(b, "sub/x.txt", tar::EntryType::Regular, b"x"));
        let err = extract_tar_gz(&bytes[..], out.path(), ExtractLimits::default());
        assert!(
            matches!(err, Err(ArchiveError::ThroughSymlink { .. })),
            "{err:?}"
        );
        assert!(!target.path().join("x.txt").exists());
    }

    #[test]
    fn extraction_is_bounded() {
        let out = tempfile::tempdir().unwrap();
        let bytes = tar_gz(|b| raw_entry(b, "big", tar::EntryType::Regular, &[7u8; 4096]));
        let limits = ExtractLimits {
            max_bytes: 1000,
            max_entries: 10,
            ..ExtractLimits::default()
        };
        let err = extract_tar_gz(&bytes[..], out.path(), limits);
        assert!(
            matches!(err, Err(ArchiveError::TooLarge { limit: 1000 })),
            "{err:?}"
        );
        let limits = ExtractLimits {
            max_bytes: 1 << 20,
            max_entries: 0,
            ..ExtractLimits::default()
        };
        let err = extract_tar_gz(&bytes[..], out.path(), limits);
        assert!(
            matches!(err, Err(ArchiveError::TooManyEntries { .. })),
            "{err:?}"
        );
    }

    #[test]
    fn extraction_round_trips_a_built_tree() {
        let dir = tree();
        let bytes = build(
            dir.path(),
            TarOptions {
                modes: ModePolicy::Keep,
                resolve_symlinks: false,
                parallel: true,
            },
        );
        let out = tempfile::tempdir().unwrap();
        let summary = extract_tar_gz(&bytes[..], out.path(), ExtractLimits::default()).unwrap();
        assert_eq!((summary.files, summary.dirs), (2, 2));
        assert_eq!(
            fs::read_to_string(out.path().join("deploy/app.yaml")).unwrap(),
            "kind: ConfigMap\n"
        );
        let mode = fs::metadata(out.path().join("deploy/nested/run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
    }

    #[test]
    fn moving_into_a_target_merges_directories_and_replaces_links() {
        let staging = tempfile::tempdir().unwrap();
        let target = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::create_dir(staging.path().join("d")).unwrap();
        fs::write(staging.path().join("d/new.txt"), "new").unwrap();
        fs::write(staging.path().join("link"), "file").unwrap();
        fs::create_dir(target.path().join("d")).unwrap();
        fs::write(target.path().join("d/old.txt"), "old").unwrap();
        symlink(outside.path(), target.path().join("link")).unwrap();
        move_into(staging.path(), target.path()).unwrap();
        assert_eq!(
            fs::read_to_string(target.path().join("d/new.txt")).unwrap(),
            "new"
        );
        assert!(target.path().join("d/old.txt").exists());
        assert_eq!(
            fs::read_to_string(target.path().join("link")).unwrap(),
            "file"
        );
        assert_eq!(
            fs::read_dir(outside.path()).unwrap().count(),
            0,
            "the link was not followed"
        );
    }

    #[test]
    fn non_gzip_input_is_reported_as_such() {
        let out = tempfile::tempdir().unwrap();
        let err = extract_tar_gz(
            &b"plain text, not an archive"[..],
            out.path(),
            ExtractLimits::default(),
        );
        assert!(
            matches!(err, Err(ArchiveError::NotGzip | ArchiveError::Read(_))),
            "{err:?}"
        );
    }
}
