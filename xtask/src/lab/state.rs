//! The state file `lab up` writes into the target directory (the kept lab's prefix and
//! configuration), and reading it back.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::{faults, pim::DEFAULT_ROUTERS, target_dir, Config, Lab, Topology};

/// The name of the state file `lab up` writes into the target directory.
pub(crate) const STATE_FILE: &str = "mcast-lab.state";

pub(super) fn state_file() -> PathBuf {
    target_dir().join(STATE_FILE)
}

pub(super) fn save_state(lab: &Lab) -> Result<()> {
    let c = &lab.config;
    let text = format!(
        "prefix={}\ntopology={}\nsnooping={}\nloss={}\ndup={}\nrouters={}\n",
        lab.prefix,
        c.topology.name(),
        c.snooping,
        faults::list(&c.loss),
        faults::list(&c.dup),
        c.routers,
    );
    std::fs::create_dir_all(target_dir())?;
    std::fs::write(state_file(), text)
        .with_context(|| format!("failed to write {}", state_file().display()))
}

/// The recorded lab: (prefix, config).
pub(super) fn load_state() -> Result<(String, Config)> {
    load_state_from(&state_file())
}

/// The lab recorded in the state file at `path`.
pub(super) fn load_state_from(path: &Path) -> Result<(String, Config)> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!(
                "no lab is up (no {}): run `cargo xtask lab up`",
                path.display()
            )
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .unwrap_or("")
            .to_owned()
    };
    let prefix = field("prefix");
    if !prefix.starts_with("mcl") || !prefix.ends_with('-') {
        bail!("{} holds no lab prefix", path.display());
    }
    let topology = Topology::from_name(&field("topology")).unwrap_or(Topology::Lecture);
    let faults = |key: &str| {
        faults::parse_list(&field(key))
            .map_err(|e| anyhow::anyhow!("{} holds a bad {key} line: {e}", path.display()))
    };
    let config = Config {
        topology,
        snooping: field("snooping") == "true",
        loss: faults("loss")?,
        dup: faults("dup")?,
        routers: field("routers").parse().unwrap_or(DEFAULT_ROUTERS),
    };
    Ok((prefix, config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::Fault;

    #[test]
    fn a_missing_state_file_means_no_lab_without_the_os_error() {
        let path =
            std::env::temp_dir().join(format!("mcast-lab-{}-absent.state", std::process::id()));
        let err = format!("{:#}", load_state_from(&path).unwrap_err());
        assert_eq!(
            err,
            format!(
                "no lab is up (no {}): run `cargo xtask lab up`",
                path.display()
            )
        );
    }

    #[test]
    fn a_state_file_round_trips() {
        let path = std::env::temp_dir().join(format!("mcast-lab-{}-rt.state", std::process::id()));
        std::fs::write(
            &path,
            "prefix=mcl42-\ntopology=pim\nsnooping=true\nloss=\ndup=20\nrouters=5\n",
        )
        .unwrap();
        let loaded = load_state_from(&path);
        let _ = std::fs::remove_file(&path);
        let (prefix, config) = loaded.unwrap();
        assert_eq!(prefix, "mcl42-");
        assert_eq!(
            config,
            Config {
                topology: Topology::Pim,
                snooping: true,
                loss: Vec::new(),
                dup: vec![Fault::everywhere(20)],
                routers: 5,
            }
        );
    }
}
