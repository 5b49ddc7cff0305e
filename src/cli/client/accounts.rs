//! `osapi client node group|user ...`: local accounts and their SSH keys, with the
//! original's flags; the payloads' table columns ([`Cells`]) are here beside them.

use std::process::ExitCode;

use clap::Subcommand;

use super::node::{show, show_confirmed};
use crate::cli::render::{list, Cells};
use crate::sdk::Client;
use crate::wire::ops::group::{
    GroupCreate, GroupList, GroupMembers, GroupName, Named, NodeGroupCreate, NodeGroupDelete,
    NodeGroupGet, NodeGroupList, NodeGroupUpdate,
};
use crate::wire::ops::NoInput;

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Every local group with its members.
    List,
    /// One group.
    Get {
        #[arg(long)]
        name: String,
    },
    /// Create a group (groupadd).
    Create {
        #[arg(long)]
        name: String,
        /// The group id (the next free one when absent).
        #[arg(long)]
        gid: Option<u32>,
        /// A system group.
        #[arg(long)]
        system: bool,
        /// Do not ask for confirmation with -T _all.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Replace a group's members.
    Update {
        #[arg(long)]
        name: String,
        /// Comma-separated user names (an empty value clears the members).
        #[arg(long, value_delimiter = ',', required = true, num_args = 0..)]
        members: Vec<String>,
        /// Do not ask for confirmation with -T _all.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Delete a group (groupdel).
    Delete {
        #[arg(long)]
        name: String,
        /// Do not ask for confirmation with -T _all.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

/// `client node group ...`.
pub async fn group(
    client: &Client,
    target: &str,
    command: GroupCommand,
    json: bool,
) -> anyhow::Result<ExitCode> {
    match command {
        GroupCommand::List => show::<NodeGroupList>(client, target, &NoInput {}, json).await,
        GroupCommand::Get { name } => {
            show::<NodeGroupGet>(client, target, &GroupName { name }, json).await
        }
        GroupCommand::Create {
            name,
            gid,
            system,
            yes,
        } => {
            let request = GroupCreate { name, gid, system };
            let ask = (yes, "create a group");
            show_confirmed::<NodeGroupCreate>(client, target, ask, &request, json).await
        }
        GroupCommand::Update { name, members, yes } => {
            let members = members.into_iter().filter(|m| !m.is_empty()).collect();
            let request = GroupMembers { name, members };
            let ask = (yes, "replace a group's members");
            show_confirmed::<NodeGroupUpdate>(client, target, ask, &request, json).await
        }
        GroupCommand::Delete { name, yes } => {
            let ask = (yes, "delete a group");
            show_confirmed::<NodeGroupDelete>(client, target, ask, &GroupName { name }, json).await
        }
    }
}

impl Cells for GroupList {
    const COLUMNS: &'static [&'static str] = &["name", "gid", "members"];
    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        self.groups
            .iter()
            .flatten()
            .map(|g| {
                let members = g.members.as_deref().unwrap_or_default();
                vec![g.name.clone(), g.gid.to_string(), list(members)]
            })
            .collect()
    }
}

impl Cells for Named {
    const COLUMNS: &'static [&'static str] = &["name", "changed"];
    fn rows(&self, changed: bool) -> Vec<Vec<String>> {
        let name = self.name.clone().unwrap_or_default();
        vec![vec![name, changed.to_string()]]
    }
}
