//! Keys on disk: `--key-file PATH` on `send`, `recv`, `perf send`, `perf recv` and `ping`, and
//! `mcast keygen`.
//!
//! A key file is text: 64 hex digits (a 32-byte key), upper or lower case, and at most one
//! line end after them; nothing else (mcast-core's `auth::Key::from_hex`). Hex rather than raw
//! bytes, so a key can be read, compared and copied between hosts with ordinary tools. It must
//! be readable by its owner alone: a key file whose mode gives the group or others any access
//! (`0644`, `0640`, `0606`, ...) is refused, as ssh refuses such a private key, and so is one
//! of the wrong length or with anything but hex digits in it. Each refusal is a usage error
//! (exit 2) with a hint.
//!
//! `mcast keygen PATH` writes a new key from the operating system's random source
//! (`/dev/urandom`) into a new file of mode 0600; it refuses to replace an existing file unless
//! `--force` is given, and then replaces it atomically (a new file renamed over the old one).
//! Without PATH it prints the key on stdout.

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use mcast_core::auth::{Key, KeyError, KEY_HEX_LEN, KEY_LEN};

use crate::errors::CliError;
use crate::output;

/// `--key-file PATH`, shared by every command that sends or receives frames.
#[derive(clap::Args, Debug, Clone, Default)]
pub(crate) struct KeyArg {
    /// Authenticate frames with the key in PATH (64 hex digits, mode 0600: make one with
    /// `mcast keygen PATH`). Senders sign every frame (HMAC-SHA256); receivers drop and count
    /// every datagram that is unauthenticated, truncated, forged, tampered or replayed. Every
    /// host of the group needs the same key.
    #[arg(long = "key-file", value_name = "PATH")]
    pub(crate) key_file: Option<PathBuf>,
}

impl KeyArg {
    /// The key, when `--key-file` was given.
    ///
    /// # Errors
    ///
    /// A usage error (exit 2) when the file cannot be read, is open to others, or does not
    /// hold a key.
    pub(crate) fn load(&self) -> Result<Option<Key>, CliError> {
        self.key_file.as_deref().map(load).transpose()
    }
}

/// The longest key file worth reading: a key, a line end, and room to say how long it was.
const MAX_READ: u64 = 4096;

/// Reads and checks the key file at `path`.
///
/// # Errors
///
/// A usage error with a hint: the file is missing or unreadable, not a regular file, open to
/// the group or others, or not 64 hex digits.
pub(crate) fn load(path: &Path) -> Result<Key, CliError> {
    let shown = path.display();
    let file = File::open(path).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::NotFound {
            format!("make one with `mcast keygen {shown}`, and give the same file to every sender and receiver")
        } else {
            format!("the key file must be readable by the user running mcast (`ls -l {shown}`)")
        };
        CliError::usage(format!("cannot read key file '{shown}': {e}")).hint(hint)
    })?;
    // The checks are made on the file opened, not on the path again.
    let meta = file
        .metadata()
        .map_err(|e| CliError::usage(format!("cannot read key file '{shown}': {e}")))?;
    if !meta.is_file() {
        return Err(
            CliError::usage(format!("key file '{shown}' is not a regular file"))
                .hint("give the path of a file written by `mcast keygen PATH`"),
        );
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CliError::usage(format!(
            "permissions {mode:04o} for key file '{shown}' are too open: a key file must be readable by its owner alone"
        ))
        .hint(format!("chmod 600 {shown}")));
    }
    let mut text = Vec::new();
    file.take(MAX_READ)
        .read_to_end(&mut text)
        .map_err(|e| CliError::usage(format!("cannot read key file '{shown}': {e}")))?;
    Key::from_hex(&text).map_err(|e| {
        let what = match e {
            KeyError::Length { .. } if text.len() as u64 >= MAX_READ => {
                format!("key file '{shown}' is {MAX_READ} bytes or more: a key file holds {KEY_HEX_LEN} hex digits (a {KEY_LEN}-byte key)")
            }
            KeyError::Length { len } => format!(
                "key file '{shown}' holds {len} bytes: a key file holds {KEY_HEX_LEN} hex digits (a {KEY_LEN}-byte key) and at most one line end"
            ),
            _ => format!("key file '{shown}' is not a key: {e}"),
        };
        CliError::usage(what).hint(format!(
            "write a new key with `mcast keygen {shown} --force` and give it to every sender and receiver"
        ))
    })
}

/// Arguments of `mcast keygen`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  mcast keygen group.key                     a new key in group.key (mode 0600)
  scp -p group.key host2:                    the same key on every host of the group
  mcast recv 239.1.2.3 5000 -i lab0 --key-file group.key
  mcast send 239.1.2.3 5000 hi -i lab0 --key-file group.key
  (umask 077; mcast keygen > group.key)      the same, through stdout

A key file holds 64 hex digits (a 32-byte key) and a newline. mcast refuses a key file that its
group or others may access (chmod 600 it), and one that holds anything else.")]
pub(crate) struct KeygenOpt {
    /// Where to write the key (a new file, mode 0600); the path is printed. Without PATH, the
    /// key is printed on stdout.
    #[arg(value_name = "PATH")]
    path: Option<PathBuf>,

    /// Replace PATH if it exists (every host using the old key needs the new one).
    #[arg(long)]
    force: bool,
}

/// A new key from the operating system's random source.
fn random_key() -> anyhow::Result<Key> {
    let mut bytes = [0; KEY_LEN];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("cannot read random bytes from /dev/urandom")?;
    Ok(Key::from_bytes(bytes))
}

/// Runs `mcast keygen`.
pub(crate) fn keygen(opt: KeygenOpt) -> anyhow::Result<ExitCode> {
    let key = random_key()?;
    let text = format!("{}\n", key.to_hex());
    let Some(path) = opt.path else {
        output::line(text.trim_end())?;
        return Ok(ExitCode::SUCCESS);
    };
    let shown = path.display();
    if opt.force {
        // A new file beside the old one, renamed over it: the key is replaced whole or not
        // at all, and the new file is 0600 whatever the old one's mode was.
        let name = path
            .file_name()
            .map_or_else(|| "key".into(), |n| n.to_string_lossy().into_owned());
        let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        let written = write_new(&tmp, &text).and_then(|()| fs::rename(&tmp, &path));
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written.with_context(|| format!("cannot write '{shown}'"))?;
    } else {
        match write_new(&path, &text) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(CliError::usage(format!(
                    "'{shown}' exists: refusing to overwrite it"
                ))
                .hint("--force replaces it (every host using the old key then needs the new one)")
                .into());
            }
            Err(e) => return Err(anyhow::Error::new(e).context(format!("cannot write '{shown}'"))),
        }
    }
    output::line(&path.display().to_string())?;
    Ok(ExitCode::SUCCESS)
}

/// Creates `path` (which must not exist) with mode 0600 and writes `text` to it, durably.
fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    // The umask may have taken bits away, never added any: make it exactly 0600.
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mcast-key-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write(path: &Path, text: &[u8], mode: u32) {
        fs::write(path, text).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_key_file_is_64_hex_digits_readable_by_its_owner_alone() {
        let dir = scratch("load");
        let path = dir.join("k");
        let hex = "0f".repeat(32);
        write(&path, format!("{hex}\n").as_bytes(), 0o600);
        assert_eq!(load(&path).unwrap(), Key::from_bytes([0x0f; 32]));
        write(&path, format!("{hex}\n").as_bytes(), 0o400);
        assert!(load(&path).is_ok(), "read-only is fine");
        for mode in [0o644, 0o640, 0o604, 0o620, 0o610, 0o660] {
            write(&path, format!("{hex}\n").as_bytes(), mode);
            let e = load(&path).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("permissions {mode:04o} for key file '"))
                    && e.ends_with("are too open: a key file must be readable by its owner alone"),
                "{e}"
            );
        }
        for (text, want) in [
            (&hex[..62], "holds 62 bytes"),
            (&"a".repeat(32)[..], "holds 32 bytes"),
            ("", "holds 0 bytes"),
        ] {
            write(&path, text.as_bytes(), 0o600);
            let e = load(&path).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
        write(&path, &[b'z'; 64], 0o600);
        let e = load(&path).unwrap_err().to_string();
        assert!(e.contains("not a key") && e.contains("0x7a"), "{e}");
        write(&path, &vec![b'0'; 10_000], 0o600);
        let e = load(&path).unwrap_err().to_string();
        assert!(e.contains("4096 bytes or more"), "{e}");
        let e = load(&dir.join("missing")).unwrap_err().to_string();
        assert!(e.starts_with("cannot read key file"), "{e}");
        let e = load(&dir).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn keygen_writes_a_0600_key_and_refuses_to_overwrite() {
        let dir = scratch("keygen");
        let path = dir.join("group.key");
        let opt = |force| KeygenOpt {
            path: Some(path.clone()),
            force,
        };
        keygen(opt(false)).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let first = load(&path).unwrap();
        let e = keygen(opt(false)).unwrap_err();
        assert!(e.to_string().contains("exists: refusing"), "{e:#}");
        assert_eq!(crate::errors::exit_code(&e), crate::errors::exit::USAGE);
        assert_eq!(load(&path).unwrap(), first, "left alone");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        keygen(opt(true)).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the replacement is 0600 whatever the old mode");
        assert_ne!(load(&path).unwrap(), first, "a new key");
        let names: Vec<_> = fs::read_dir(&dir).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left");
        let _ = fs::remove_dir_all(&dir);
    }
}
