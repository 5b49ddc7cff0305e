//! Local accounts: the passwd, group and shadow databases read under the system root, and
//! groups changed with the shadow tools (`groupadd`, `gpasswd`, `groupdel`). The tools are
//! given `--root <root>` when the root is not `/`, so they act on that tree (tests point
//! them at a temp dir).
//!
//! Users are in [`super::user`], SSH keys in [`super::ssh_key`]; both build on the readers
//! here.

use std::collections::BTreeSet;

use super::system::LinuxSystem;
use super::ProviderError;
pub use crate::wire::ops::group::{GroupCreate, GroupInfo};

/// Reads and changes local groups. Writes return whether anything changed.
pub trait GroupProvider: Send + Sync {
    /// Every group, in the database's order.
    fn list(&self) -> Result<Vec<GroupInfo>, ProviderError>;
    /// One group; `NotFound` naming it when there is none.
    fn get(&self, name: &str) -> Result<GroupInfo, ProviderError>;
    /// Creates a group; `false` when it exists already with the asked id. A group of the
    /// name with another id is an error.
    fn create(&self, group: &GroupCreate) -> Result<bool, ProviderError>;
    /// Replaces a group's members; `false` when they are those already (in any order).
    fn set_members(&self, name: &str, members: &[String]) -> Result<bool, ProviderError>;
    /// Deletes a group; `false` when there is none.
    fn delete(&self, name: &str) -> Result<bool, ProviderError>;
}

/// Accounts under the system's root, changed through its runner.
pub type LinuxAccounts = LinuxSystem;

/// One line of the passwd database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub shell: String,
}

/// The colon-separated fields of each line of a database, comments and blank lines
/// skipped.
fn records(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split(':').collect())
}

/// passwd lines (`name:x:uid:gid:gecos:home:shell`); malformed ones are skipped.
pub fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    records(text)
        .filter_map(|f| {
            let [name, _, uid, gid, _, home, shell] = f.as_slice() else {
                return None;
            };
            Some(PasswdEntry {
                name: (*name).to_owned(),
                uid: uid.parse().ok()?,
                gid: gid.parse().ok()?,
                home: (*home).to_owned(),
                shell: (*shell).to_owned(),
            })
        })
        .collect()
}

/// group lines (`name:x:gid:member,member`); malformed ones are skipped.
pub fn parse_group(text: &str) -> Vec<GroupInfo> {
    records(text)
        .filter_map(|f| {
            let [name, _, gid, members] = f.as_slice() else {
                return None;
            };
            let members: Vec<String> = members
                .split(',')
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
                .collect();
            Some(GroupInfo {
                name: (*name).to_owned(),
                gid: gid.parse().ok()?,
                members: (!members.is_empty()).then_some(members),
            })
        })
        .collect()
}

/// The password field of `user` in a shadow database, if the user has a line.
pub fn shadow_password<'a>(text: &'a str, user: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next() == Some(user)).then(|| f.next().unwrap_or_default())
    })
}

impl LinuxAccounts {
    /// A database file under the root; a missing one reads as empty (a fresh root).
    pub(crate) fn database(&self, path: &str) -> Result<String, ProviderError> {
        let file = self.root.join(path);
        match std::fs::read_to_string(&file) {
            Ok(text) => Ok(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(ProviderError::from_io(&file.display().to_string(), e)),
        }
    }

    pub(crate) fn passwd(&self) -> Result<Vec<PasswdEntry>, ProviderError> {
        Ok(parse_passwd(&self.database("etc/passwd")?))
    }

    pub(crate) fn groups(&self) -> Result<Vec<GroupInfo>, ProviderError> {
        Ok(parse_group(&self.database("etc/group")?))
    }

    pub(crate) fn find_group(&self, name: &str) -> Result<Option<GroupInfo>, ProviderError> {
        Ok(self.groups()?.into_iter().find(|g| g.name == name))
    }

    /// `program` with `--root <root>` when the root is not the running system's `/`.
    pub(crate) fn tool<'a>(&'a self, program: &'a str, root: &'a str) -> Vec<&'a str> {
        if self.root.is_host() {
            vec![program]
        } else {
            vec![program, "--root", root]
        }
    }

    /// The system root as a tool argument.
    pub(crate) fn root_arg(&self) -> String {
        self.root.join("").to_string_lossy().into_owned()
    }

    /// Runs a shadow tool (`argv` after the program and its `--root`), requiring success.
    pub(crate) fn shadow_tool(&self, program: &str, args: &[&str]) -> Result<(), ProviderError> {
        let root = self.root_arg();
        let mut argv = self.tool(program, &root);
        argv.extend_from_slice(args);
        self.runner.check(&argv).map(drop)
    }

    /// An error naming each of `names` with no passwd line.
    pub(crate) fn require_users(&self, names: &[String]) -> Result<(), ProviderError> {
        let known: BTreeSet<String> = self.passwd()?.into_iter().map(|u| u.name).collect();
        match names.iter().find(|n| !known.contains(*n)) {
            Some(n) => Err(ProviderError::InvalidInput(format!("no user {n:?}"))),
            None => Ok(()),
        }
    }
}

fn no_group(name: &str) -> ProviderError {
    ProviderError::NotFound(format!("group {name:?} not found"))
}

impl GroupProvider for LinuxAccounts {
    fn list(&self) -> Result<Vec<GroupInfo>, ProviderError> {
        self.groups()
    }

    fn get(&self, name: &str) -> Result<GroupInfo, ProviderError> {
        self.find_group(name)?.ok_or_else(|| no_group(name))
    }

    fn create(&self, group: &GroupCreate) -> Result<bool, ProviderError> {
        if let Some(found) = self.find_group(&group.name)? {
            return match group.gid {
                Some(gid) if gid != found.gid => Err(ProviderError::InvalidInput(format!(
                    "group {:?} exists with gid {}",
                    group.name, found.gid
                ))),
                _ => Ok(false),
            };
        }
        let gid = group.gid.map(|g| g.to_string());
        let mut args = Vec::new();
        if let Some(gid) = &gid {
            args.extend(["-g", gid.as_str()]);
        }
        if group.system {
            args.push("-r");
        }
        args.push(&group.name);
        self.shadow_tool("groupadd", &args)?;
        Ok(true)
    }

    fn set_members(&self, name: &str, members: &[String]) -> Result<bool, ProviderError> {
        let found = self.find_group(name)?.ok_or_else(|| no_group(name))?;
        let now: BTreeSet<&String> = found.members.iter().flatten().collect();
        if now == members.iter().collect::<BTreeSet<_>>() {
            return Ok(false);
        }
        self.require_users(members)?;
        self.shadow_tool("gpasswd", &["-M", &members.join(","), name])?;
        Ok(true)
    }

    fn delete(&self, name: &str) -> Result<bool, ProviderError> {
        if self.find_group(name)?.is_none() {
            return Ok(false);
        }
        self.shadow_tool("groupdel", &[name])?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::runner::RecordingRunner;

    #[test]
    fn databases_parse_and_skip_what_is_malformed() {
        let passwd =
            "root:x:0:0:root:/root:/bin/bash\n# c\nbroken:x\nbob:x:1001:100::/home/bob:/bin/sh\n";
        let users = parse_passwd(passwd);
        assert_eq!(users.len(), 2);
        assert_eq!(
            users[1],
            PasswdEntry {
                name: "bob".into(),
                uid: 1001,
                gid: 100,
                home: "/home/bob".into(),
                shell: "/bin/sh".into()
            }
        );
        let groups = parse_group("root:x:0:\ndevs:x:1000:bob,alice\nbad:x:zz:\n");
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].members, None);
        assert_eq!(
            groups[1].members.as_deref(),
            Some(&["bob".to_owned(), "alice".to_owned()][..])
        );
        let shadow = "root:*:1::::::\nbob:!$6$x$y:1::::::\n";
        assert_eq!(shadow_password(shadow, "bob"), Some("!$6$x$y"));
        assert_eq!(shadow_password(shadow, "eve"), None);
    }

    #[test]
    fn changes_run_only_when_the_group_differs() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::fs::write(root.path().join("etc/group"), "devs:x:1000:bob\n").unwrap();
        std::fs::write(root.path().join("etc/passwd"), "bob:x:1:1::/h:/s\n").unwrap();
        let runner = RecordingRunner::new();
        let p = LinuxAccounts {
            root: root.path().into(),
            runner: runner.clone(),
        };
        let devs = GroupCreate {
            name: "devs".into(),
            gid: Some(1000),
            system: false,
        };
        assert!(!p.create(&devs).unwrap());
        assert!(p
            .create(&GroupCreate {
                gid: Some(7),
                ..devs
            })
            .is_err());
        assert!(!p.set_members("devs", &["bob".into()]).unwrap());
        assert!(
            p.set_members("devs", &["eve".into()]).is_err(),
            "no such user"
        );
        assert!(!p.delete("ops").unwrap());
        assert!(runner.calls().is_empty());
        assert!(p.set_members("devs", &[]).unwrap());
        let r = root.path().to_string_lossy().into_owned();
        let r = format!("{}/", r.trim_end_matches('/'));
        assert_eq!(
            runner.calls(),
            [vec!["gpasswd", "--root", &r, "-M", "", "devs"]]
        );
    }
}
