//! `osapi client file ...`: files in the object store.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;

use super::{print, print_as};
use crate::cli::render::{bytes, pretty, rows_of, table, Show};
use crate::sdk::{self, endpoint, Client, Deleted, FileInfo, FileList, StaleList};

#[derive(Debug, Subcommand)]
pub enum FileCommand {
    /// Upload a local file (skipped when the stored one has the same SHA-256).
    Upload {
        #[arg(long)]
        name: String,
        #[arg(long)]
        file: std::path::PathBuf,
        /// raw or template.
        #[arg(long, default_value = "raw")]
        content_type: String,
        /// Replace a stored file with other content.
        #[arg(long)]
        force: bool,
    },
    /// Stored files.
    List,
    /// One file's metadata.
    Get {
        #[arg(long)]
        name: String,
    },
    /// Remove a stored file.
    Delete {
        #[arg(long)]
        name: String,
    },
    /// Deployed files whose object changed since.
    Stale,
}

/// Runs a `file` subcommand.
pub async fn run(client: &Client, command: FileCommand, json: bool) -> anyhow::Result<ExitCode> {
    match command {
        FileCommand::Upload {
            name,
            file,
            content_type,
            force,
        } => upload(client, &name, &file, &content_type, force, json).await,
        FileCommand::List => print(client, endpoint::file_list(), json).await,
        FileCommand::Get { name } => print(client, endpoint::file_get(&name), json).await,
        FileCommand::Delete { name } => print(client, endpoint::file_delete(&name), json).await,
        FileCommand::Stale => print(client, endpoint::file_stale(), json).await,
    }
}

/// Uploads `file` unless (without `--force`) the stored object has its SHA-256 and type.
async fn upload(
    client: &Client,
    name: &str,
    file: &Path,
    content_type: &str,
    force: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let sha = sdk::file_sha256(file)
        .await
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    if !force && already_stored(client, name, &sha, content_type).await? {
        println!(
            "\n  Name: {name}  SHA256: {sha}\n  Changed: false (already stored; nothing sent)"
        );
        return Ok(ExitCode::SUCCESS);
    }
    let resp = client.upload_file(name, content_type, file, force).await?;
    print_as::<FileInfo>(resp, json)
}

/// Whether object `name` holds `sha` as `content_type`; an API error (a missing object)
/// is `false`, leaving the verdict to the upload.
async fn already_stored(
    client: &Client,
    name: &str,
    sha: &str,
    content_type: &str,
) -> anyhow::Result<bool> {
    match client.file_get(name).await {
        Ok(info) => Ok(info.sha256 == sha && info.content_type == content_type),
        Err(e) if e.status().is_some() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// An object's metadata, as pretty JSON.
impl Show for FileInfo {
    fn show(&self) -> String {
        pretty(self)
    }
}

/// `DELETE /file/{name}`, as pretty JSON.
impl Show for Deleted {
    fn show(&self) -> String {
        pretty(self)
    }
}

/// `GET /file` as a table.
impl Show for FileList {
    fn show(&self) -> String {
        let rows = rows_of(&self.files, |f| {
            vec![
                f.name.clone(),
                f.content_type.clone(),
                bytes(f.size),
                f.sha256.clone(),
            ]
        });
        format!(
            "\n  Files ({}):\n\n{}",
            self.total,
            table(&["name", "type", "size", "sha256"], rows)
        )
    }
}

/// `GET /file/stale` as a table.
impl Show for StaleList {
    fn show(&self) -> String {
        let rows = rows_of(&self.stale, |f| {
            vec![
                f.hostname.clone(),
                f.path.clone(),
                f.object_name.clone(),
                f.provider.clone(),
                f.current_sha.clone(),
            ]
        });
        format!(
            "\n  Stale ({}):\n\n{}",
            self.total,
            table(
                &["hostname", "path", "object", "provider", "current sha256"],
                rows
            )
        )
    }
}
