//! `osapi man <dir>`: one man page per command of the clap tree, for packages.

use std::path::{Path, PathBuf};

use clap::CommandFactory;

/// Writes `osapi.1` and one page per subcommand, named by its path in the tree
/// (`osapi-client-node-hostname.1`), into `dir`; returns the files written.
pub fn write_pages(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    // Without `help` pages: clap's help subcommand is no command of osapi's.
    let mut root = super::Cli::command().disable_help_subcommand(true);
    root.build();
    let mut written = Vec::new();
    write_tree(&root, dir, &mut written)?;
    Ok(written)
}

fn write_tree(cmd: &clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let page = clap_mangen::Man::new(cmd.clone())
        .source(format!("osapi {}", crate::VERSION))
        .manual("osapi manual");
    written.push(page.generate_to(dir)?);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_tree(sub, dir, written)?;
    }
    Ok(())
}
