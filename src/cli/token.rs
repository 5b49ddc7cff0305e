//! `osapi token generate|validate`: local signing with `controller.api.security.signing_key`.

use std::time::Duration;

use clap::Subcommand;

use crate::auth::{Authenticator, Permission};
use crate::config::Config;

/// Default token lifetime (about three months, as in the original).
const DEFAULT_TTL: &str = "90d";

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token. Prints only the token on stdout, so `T=$(osapi token generate ...)` works.
    Generate {
        /// Roles (comma-separated): admin, write, read, or a role from config.
        #[arg(short = 'r', long, required = true, value_delimiter = ',')]
        roles: Vec<String>,
        /// Who the token is for (the `sub` claim).
        #[arg(short = 'u', long)]
        subject: String,
        /// Explicit permissions (comma-separated); they replace the roles' permissions.
        #[arg(short = 'p', long, value_delimiter = ',')]
        permissions: Vec<String>,
        /// Lifetime, e.g. 1h, 30d.
        #[arg(long, default_value = DEFAULT_TTL)]
        ttl: String,
    },
    /// Check a token and show what it grants.
    Validate {
        /// The token.
        #[arg(short = 't', long)]
        token: String,
    },
}

fn authenticator(config: &Config) -> anyhow::Result<Authenticator> {
    let security = &config.controller.api.security;
    Ok(Authenticator::new(config.signing_key()?, &security.roles)?)
}

/// Runs a token command.
pub fn run(config: &Config, command: TokenCommand) -> anyhow::Result<()> {
    let auth = authenticator(config)?;
    match command {
        TokenCommand::Generate {
            roles,
            subject,
            permissions,
            ttl,
        } => {
            let permissions = permissions
                .iter()
                .map(|p| p.parse::<Permission>())
                .collect::<Result<Vec<_>, _>>()?;
            let ttl: Duration =
                crate::config::duration::parse(&ttl).map_err(|e| anyhow::anyhow!("--ttl: {e}"))?;
            anyhow::ensure!(!ttl.is_zero(), "--ttl must be longer than zero");
            let token = auth.issue(&subject, &roles, &permissions, ttl)?;
            println!("{token}");
            eprintln!("Subject: {subject}  Roles: {}", roles.join(", "));
            if !permissions.is_empty() {
                let list: Vec<&str> = permissions.iter().map(|p| p.as_str()).collect();
                eprintln!("Permissions: {}", list.join(", "));
            }
        }
        TokenCommand::Validate { token } => {
            let p = auth.verify(&token)?;
            println!("Subject: {}", p.subject);
            println!("Roles: {}", p.roles.join(", "));
            if !p.claims.permissions.is_empty() {
                println!("Permissions: {}", p.claims.permissions.join(", "));
            }
            let effective: Vec<&str> = p.permissions.iter().map(|p| p.as_str()).collect();
            println!("Effective Permissions: {}", effective.join(", "));
            for (label, ts) in [("Issued", p.claims.iat), ("Expires", p.claims.exp)] {
                if let Some(ts) = ts.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
                {
                    println!("{label}: {}", crate::wire::job::rfc3339(ts));
                }
            }
        }
    }
    Ok(())
}
