//! `pulsewatch config check` and `pulsewatch config init`.

use std::path::Path;

use crate::config::{self, Config};

pub fn check(path: Option<&Path>) -> anyhow::Result<()> {
    let (config, source) = Config::load(path)?;
    outln!("# config OK: {source}");
    out!("{}", config.describe());
    Ok(())
}

pub fn init(dir: Option<&Path>, force: bool) -> anyhow::Result<()> {
    let path = config::init_config_file(dir, force)?;
    outln!("wrote {}", path.display());
    Ok(())
}
