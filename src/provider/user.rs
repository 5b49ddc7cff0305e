//! Local users: read from the passwd, group and shadow databases under the system root;
//! changed with `useradd`, `usermod`, `userdel` and `chpasswd -e` (given `--root` when the
//! root is not `/`). A password arrives as its crypt hash and reaches `chpasswd` on stdin
//! only, never on an argument vector.

use std::collections::BTreeSet;

use super::accounts::{shadow_password, LinuxAccounts, PasswdEntry};
use super::ProviderError;
pub use crate::wire::ops::user::{UserCreateData, UserInfo, UserUpdate};

/// Reads and changes local users. Writes return whether anything changed.
pub trait UserProvider: Send + Sync {
    /// Every user, in the passwd database's order.
    fn list(&self) -> Result<Vec<UserInfo>, ProviderError>;
    /// One user; `NotFound` naming it when there is none.
    fn get(&self, name: &str) -> Result<UserInfo, ProviderError>;
    /// Creates a user with a home directory, then sets its password if a hash is given.
    /// A user of the name already is `false` when what the request names matches it (its
    /// password is then left alone), else an error.
    fn create(&self, user: &UserCreateData) -> Result<bool, ProviderError>;
    /// Changes what differs of shell, home, supplementary groups and lock; `false` when
    /// nothing does.
    fn update(&self, change: &UserUpdate) -> Result<bool, ProviderError>;
    /// Deletes a user and its home; `false` when there is none.
    fn delete(&self, name: &str) -> Result<bool, ProviderError>;
    /// Sets the password to `hash` (crypt form); `false` when the shadow database holds
    /// exactly that hash already (the same request again).
    fn set_password(&self, name: &str, hash: &str) -> Result<bool, ProviderError>;
}

fn no_user(name: &str) -> ProviderError {
    ProviderError::NotFound(format!("user {name:?} not found"))
}

/// Whether a shadow password field is locked (`passwd -S` shows `L`).
fn locked(field: Option<&str>) -> bool {
    field.is_some_and(|p| p.starts_with('!'))
}

impl LinuxAccounts {
    fn find_user(&self, name: &str) -> Result<Option<PasswdEntry>, ProviderError> {
        Ok(self.passwd()?.into_iter().find(|u| u.name == name))
    }

    /// The shadow database, empty where the agent may not read it (then nobody reads as
    /// locked: the lock state needs root, the rest does not).
    fn shadow(&self) -> String {
        self.database("etc/shadow").unwrap_or_default()
    }

    fn info(
        &self,
        u: PasswdEntry,
        groups: &[super::accounts::GroupInfo],
        shadow: &str,
    ) -> UserInfo {
        // As `id -Gn`: the primary group, then every group listing the user as a member.
        let primary = groups
            .iter()
            .find(|g| g.gid == u.gid)
            .map(|g| g.name.clone());
        let supplementary = groups
            .iter()
            .filter(|g| g.gid != u.gid && g.members.iter().flatten().any(|m| *m == u.name))
            .map(|g| g.name.clone());
        let names: Vec<String> = primary.into_iter().chain(supplementary).collect();
        UserInfo {
            locked: locked(shadow_password(shadow, &u.name)),
            groups: (!names.is_empty()).then_some(names),
            name: u.name,
            uid: u.uid,
            gid: u.gid,
            home: u.home,
            shell: u.shell,
        }
    }

    /// The names of the groups listing `user` as a member.
    fn supplementary(&self, user: &str) -> Result<BTreeSet<String>, ProviderError> {
        Ok(self
            .groups()?
            .into_iter()
            .filter(|g| g.members.iter().flatten().any(|m| m == user))
            .map(|g| g.name)
            .collect())
    }

    /// `chpasswd -e` with `name:hash` on its stdin.
    fn chpasswd(&self, name: &str, hash: &str) -> Result<(), ProviderError> {
        let root = self.root_arg();
        let mut argv = self.tool("chpasswd", &root);
        argv.push("-e");
        let line = format!("{name}:{hash}\n");
        self.runner
            .check_with_input(&argv, line.as_bytes())
            .map(drop)
    }
}

/// What an existing user differs in from a create request (the fields it names).
fn create_conflict(found: &PasswdEntry, want: &UserCreateData) -> Option<String> {
    let differs = |field: &str, want: Option<String>, have: String| {
        want.filter(|w| *w != have)
            .map(|w| format!("{field} is {have:?}, not {w:?}"))
    };
    differs(
        "uid",
        want.uid.map(|u| u.to_string()),
        found.uid.to_string(),
    )
    .or_else(|| {
        differs(
            "gid",
            want.gid.map(|g| g.to_string()),
            found.gid.to_string(),
        )
    })
    .or_else(|| differs("home", want.home.clone(), found.home.clone()))
    .or_else(|| differs("shell", want.shell.clone(), found.shell.clone()))
}

impl UserProvider for LinuxAccounts {
    fn list(&self) -> Result<Vec<UserInfo>, ProviderError> {
        let (groups, shadow) = (self.groups()?, self.shadow());
        Ok(self
            .passwd()?
            .into_iter()
            .map(|u| self.info(u, &groups, &shadow))
            .collect())
    }

    fn get(&self, name: &str) -> Result<UserInfo, ProviderError> {
        let user = self.find_user(name)?.ok_or_else(|| no_user(name))?;
        Ok(self.info(user, &self.groups()?, &self.shadow()))
    }

    fn create(&self, user: &UserCreateData) -> Result<bool, ProviderError> {
        if let Some(found) = self.find_user(&user.name)? {
            return match create_conflict(&found, user) {
                Some(why) => Err(ProviderError::InvalidInput(format!(
                    "user {:?} exists and its {why}: update it instead",
                    user.name
                ))),
                None => Ok(false),
            };
        }
        let (uid, gid) = (
            user.uid.map(|u| u.to_string()),
            user.gid.map(|g| g.to_string()),
        );
        let groups = user.groups.as_ref().map(|g| g.join(","));
        let mut args = vec!["--create-home"];
        for (flag, value) in [
            ("-u", &uid),
            ("-g", &gid),
            ("-d", &user.home),
            ("-s", &user.shell),
            ("-G", &groups),
        ] {
            if let Some(v) = value {
                args.extend([flag, v.as_str()]);
            }
        }
        if user.system {
            args.push("-r");
        }
        args.push(&user.name);
        self.shadow_tool("useradd", &args)?;
        if let Some(hash) = &user.password_hash {
            self.chpasswd(&user.name, hash)?;
        }
        Ok(true)
    }

    fn update(&self, change: &UserUpdate) -> Result<bool, ProviderError> {
        let name = &change.name;
        let found = self.find_user(name)?.ok_or_else(|| no_user(name))?;
        let mut args: Vec<&str> = Vec::new();
        if let Some(shell) = change.shell.as_deref().filter(|s| *s != found.shell) {
            args.extend(["-s", shell]);
        }
        if let Some(home) = change.home.as_deref().filter(|h| *h != found.home) {
            args.extend(["-d", home, "-m"]);
        }
        let groups = change.groups.as_ref().map(|g| g.join(","));
        if let Some(wanted) = &change.groups {
            let wanted: BTreeSet<String> = wanted.iter().cloned().collect();
            if wanted != self.supplementary(name)? {
                args.extend(["-G", groups.as_deref().unwrap_or_default()]);
            }
        }
        let is_locked = locked(shadow_password(&self.shadow(), name));
        match change.lock {
            Some(true) if !is_locked => args.push("-L"),
            Some(false) if is_locked => args.push("-U"),
            _ => {}
        }
        if args.is_empty() {
            return Ok(false);
        }
        args.push(name);
        self.shadow_tool("usermod", &args)?;
        Ok(true)
    }

    fn delete(&self, name: &str) -> Result<bool, ProviderError> {
        let Some(found) = self.find_user(name)? else {
            return Ok(false);
        };
        // `userdel -r` of root (or of an account whose home is `/`) would take the system.
        if found.uid == 0 || found.home.trim_end_matches('/').is_empty() {
            return Err(ProviderError::InvalidInput(format!(
                "refusing to delete {name:?}: uid {} with home {:?}",
                found.uid, found.home
            )));
        }
        self.shadow_tool("userdel", &["-r", name])?;
        Ok(true)
    }

    fn set_password(&self, name: &str, hash: &str) -> Result<bool, ProviderError> {
        if self.find_user(name)?.is_none() {
            return Err(no_user(name));
        }
        if shadow_password(&self.shadow(), name) == Some(hash) {
            return Ok(false);
        }
        self.chpasswd(name, hash)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::runner::RecordingRunner;

    fn rooted() -> (
        tempfile::TempDir,
        LinuxAccounts,
        std::sync::Arc<RecordingRunner>,
    ) {
        let root = tempfile::tempdir().unwrap();
        let etc = root.path().join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(etc.join("passwd"), "bob:x:1001:100::/home/bob:/bin/sh\n").unwrap();
        std::fs::write(
            etc.join("group"),
            "users:x:100:\ndevs:x:2000:bob\nops:x:2001:\n",
        )
        .unwrap();
        std::fs::write(etc.join("shadow"), "bob:!$6$s$h:1::::::\n").unwrap();
        let runner = RecordingRunner::new();
        let p = LinuxAccounts {
            root: root.path().into(),
            runner: runner.clone(),
        };
        (root, p, runner)
    }

    #[test]
    fn users_read_with_groups_and_lock() {
        let (_root, p, _) = rooted();
        let bob = p.get("bob").unwrap();
        assert_eq!(
            bob.groups.as_deref(),
            Some(&["users".to_owned(), "devs".to_owned()][..])
        );
        assert!(bob.locked);
        assert!(matches!(p.get("eve"), Err(ProviderError::NotFound(_))));
    }

    #[test]
    fn only_what_differs_is_run_and_the_password_goes_on_stdin() {
        let (root, p, runner) = rooted();
        let same = UserUpdate {
            name: "bob".into(),
            shell: Some("/bin/sh".into()),
            groups: Some(vec!["devs".into()]),
            lock: Some(true),
            ..Default::default()
        };
        assert!(!p.update(&same).unwrap());
        let existing = UserCreateData {
            name: "bob".into(),
            uid: Some(1001),
            ..Default::default()
        };
        assert!(!p.create(&existing).unwrap());
        let clash = UserCreateData {
            uid: Some(5),
            ..existing
        };
        assert!(p.create(&clash).unwrap_err().to_string().contains("uid"));
        assert!(!p.set_password("bob", "!$6$s$h").unwrap());
        assert!(!p.delete("eve").unwrap());
        assert!(runner.calls().is_empty());

        let other = UserUpdate {
            groups: Some(vec!["ops".into(), "devs".into()]),
            lock: Some(false),
            ..same
        };
        assert!(p.update(&other).unwrap());
        assert!(p.set_password("bob", "$6$new$hash").unwrap());
        let r = format!("{}/", root.path().display());
        assert_eq!(
            runner.calls(),
            [
                vec!["usermod", "--root", &r, "-G", "ops,devs", "-U", "bob"],
                vec!["chpasswd", "--root", &r, "-e"],
            ]
        );
        assert_eq!(runner.fed()[0].1, "bob:$6$new$hash\n".len());
    }
}
