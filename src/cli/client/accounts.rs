//! `osapi client node group|user ...`: local accounts and their SSH keys, with the
//! original's flags; the payloads' table columns ([`Cells`]) are here beside them.

use std::process::ExitCode;

use clap::{ArgGroup, Subcommand};

use super::node::{show, show_confirmed};
use crate::cli::render::{list, Cells};
use crate::sdk::Client;
use crate::wire::ops::group::{
    GroupCreate, GroupList, GroupMembers, GroupName, NodeGroupCreate, NodeGroupDelete,
    NodeGroupGet, NodeGroupList, NodeGroupUpdate,
};
use crate::wire::ops::ssh_key::{
    NodeSshKeyAdd, NodeSshKeyList, NodeSshKeyRemove, SshKeyAdd, SshKeyList, SshKeyRemove,
};
use crate::wire::ops::user::{
    NodeUserCreate, NodeUserDelete, NodeUserGet, NodeUserList, NodeUserPassword, NodeUserUpdate,
    PasswordRequest, UserCreate, UserList, UserName, UserUpdate,
};
use crate::wire::ops::NoInput;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Every local user with its groups and lock state.
    List,
    /// One user.
    Get {
        #[arg(long)]
        name: String,
    },
    /// Create a user with a home directory (useradd).
    Create(UserCreateArgs),
    /// Change a user's shell, home, groups or lock (usermod).
    #[command(group(ArgGroup::new("change").required(true).multiple(true)
        .args(["shell", "home", "groups", "lock", "unlock"])))]
    Update {
        #[arg(long)]
        name: String,
        #[arg(long)]
        shell: Option<String>,
        /// A new home directory (the old one's content moves there).
        #[arg(long)]
        home: Option<String>,
        /// Comma-separated supplementary groups, replacing the current ones.
        #[arg(long, value_delimiter = ',', num_args = 0..)]
        groups: Option<Vec<String>>,
        /// Lock the password.
        #[arg(long, conflicts_with = "unlock")]
        lock: bool,
        /// Unlock the password.
        #[arg(long)]
        unlock: bool,
        /// Do not ask for confirmation with -T _all.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Delete a user and its home directory (userdel -r).
    Delete {
        #[arg(long)]
        name: String,
        /// Do not ask for confirmation with -T _all.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Set a user's password (hashed by the controller, set with chpasswd).
    Password {
        #[arg(long)]
        name: String,
        /// The password; without it, the first line of stdin (kept out of the process
        /// list and the shell's history).
        #[arg(long)]
        password: Option<String>,
        /// Do not ask for confirmation with -T _all.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// A user's authorized SSH keys.
    SshKey {
        #[command(subcommand)]
        command: SshKeyCommand,
    },
}

#[derive(Debug, clap::Args)]
pub struct UserCreateArgs {
    #[arg(long)]
    name: String,
    #[arg(long)]
    uid: Option<u32>,
    /// The primary group's id.
    #[arg(long)]
    gid: Option<u32>,
    #[arg(long)]
    home: Option<String>,
    #[arg(long)]
    shell: Option<String>,
    /// Comma-separated supplementary groups.
    #[arg(long, value_delimiter = ',')]
    groups: Option<Vec<String>>,
    #[arg(long)]
    password: Option<String>,
    /// A system account.
    #[arg(long)]
    system: bool,
    /// Do not ask for confirmation with -T _all.
    #[arg(short = 'y', long)]
    yes: bool,
}

#[derive(Debug, Subcommand)]
pub enum SshKeyCommand {
    /// The user's keys with their SHA-256 fingerprints.
    List {
        #[arg(long)]
        name: String,
    },
    /// Authorize a key (a full authorized_keys line).
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        key: String,
        /// Do not ask for confirmation with -T _all.
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Remove a key by fingerprint (SHA256:...).
    Remove {
        #[arg(long)]
        name: String,
        #[arg(long)]
        fingerprint: String,
        /// Do not ask for confirmation with -T _all.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

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

/// `client node user ...`.
pub async fn user(
    client: &Client,
    target: &str,
    command: UserCommand,
    json: bool,
) -> anyhow::Result<ExitCode> {
    match command {
        UserCommand::List => show::<NodeUserList>(client, target, &NoInput {}, json).await,
        UserCommand::Get { name } => {
            show::<NodeUserGet>(client, target, &UserName { name }, json).await
        }
        UserCommand::Create(a) => {
            let ask = (a.yes, "create a user");
            let request = UserCreate {
                name: a.name,
                uid: a.uid,
                gid: a.gid,
                home: a.home,
                shell: a.shell,
                groups: a.groups,
                password: a.password,
                system: a.system,
            };
            show_confirmed::<NodeUserCreate>(client, target, ask, &request, json).await
        }
        UserCommand::Update {
            name,
            shell,
            home,
            groups,
            lock,
            unlock,
            yes,
        } => {
            let lock = (lock || unlock).then_some(lock);
            let groups = groups.map(|g| g.into_iter().filter(|g| !g.is_empty()).collect());
            let request = UserUpdate {
                name,
                shell,
                home,
                groups,
                lock,
            };
            let ask = (yes, "change a user");
            show_confirmed::<NodeUserUpdate>(client, target, ask, &request, json).await
        }
        UserCommand::Delete { name, yes } => {
            let ask = (yes, "delete a user");
            show_confirmed::<NodeUserDelete>(client, target, ask, &UserName { name }, json).await
        }
        UserCommand::Password {
            name,
            password,
            yes,
        } => {
            let ask = (yes, "set a user's password");
            let password = match password {
                Some(p) => p,
                None => first_line_of_stdin()?,
            };
            let request = PasswordRequest { name, password };
            show_confirmed::<NodeUserPassword>(client, target, ask, &request, json).await
        }
        UserCommand::SshKey { command } => ssh_key(client, target, command, json).await,
    }
}

/// The first line of stdin, without its line break.
fn first_line_of_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

/// `client node user ssh-key ...`.
async fn ssh_key(
    client: &Client,
    target: &str,
    command: SshKeyCommand,
    json: bool,
) -> anyhow::Result<ExitCode> {
    match command {
        SshKeyCommand::List { name } => {
            show::<NodeSshKeyList>(client, target, &UserName { name }, json).await
        }
        SshKeyCommand::Add { name, key, yes } => {
            let ask = (yes, "authorize an SSH key");
            show_confirmed::<NodeSshKeyAdd>(client, target, ask, &SshKeyAdd { name, key }, json)
                .await
        }
        SshKeyCommand::Remove {
            name,
            fingerprint,
            yes,
        } => {
            let ask = (yes, "remove an SSH key");
            let request = SshKeyRemove { name, fingerprint };
            show_confirmed::<NodeSshKeyRemove>(client, target, ask, &request, json).await
        }
    }
}

impl Cells for UserList {
    const COLUMNS: &'static [&'static str] =
        &["name", "uid", "gid", "home", "shell", "groups", "locked"];
    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        self.users
            .iter()
            .flatten()
            .map(|u| {
                vec![
                    u.name.clone(),
                    u.uid.to_string(),
                    u.gid.to_string(),
                    u.home.clone(),
                    u.shell.clone(),
                    list(u.groups.as_deref().unwrap_or_default()),
                    u.locked.to_string(),
                ]
            })
            .collect()
    }
}

impl Cells for SshKeyList {
    const COLUMNS: &'static [&'static str] = &["type", "fingerprint", "comment"];
    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        self.keys
            .iter()
            .flatten()
            .map(|k| {
                let comment = k.comment.clone().unwrap_or_default();
                vec![k.key_type.clone(), k.fingerprint.clone(), comment]
            })
            .collect()
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
