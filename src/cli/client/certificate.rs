//! `osapi client node certificate ...`: the trusted CA certificates, with the original's
//! flags; the listing's table columns ([`Cells`]) are here beside them.

use std::process::ExitCode;

use clap::Subcommand;

use super::node::{show, show_confirmed};
use crate::cli::render::Cells;
use crate::sdk::Client;
use crate::wire::ops::certificate::{
    CaList, CaName, CaObject, CaSource, CertificateCaCreate, CertificateCaDelete,
    CertificateCaList, CertificateCaUpdate,
};
use crate::wire::ops::NoInput;

#[derive(Debug, Subcommand)]
pub enum CertificateCommand {
    /// osapi's CA certificates, then the system's.
    List,
    /// Trust a CA certificate from an uploaded object (osapi client file upload).
    Create(CaArgs),
    /// Replace a managed CA certificate with an uploaded object.
    Update(CaArgs),
    /// Stop trusting a managed CA certificate.
    Delete {
        #[arg(long)]
        name: String,
        /// Do not ask for confirmation with -T _all.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct CaArgs {
    /// The certificate's name (`osapi-<name>.crt`).
    #[arg(long)]
    name: String,
    /// The uploaded object holding the PEM certificate.
    #[arg(long)]
    object: String,
    /// Do not ask for confirmation with -T _all.
    #[arg(short = 'y', long)]
    yes: bool,
}

/// `client node certificate ...`.
pub async fn certificate(
    client: &Client,
    target: &str,
    command: CertificateCommand,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let object = |a: CaArgs| {
        let request = CaObject {
            name: a.name,
            object: a.object,
        };
        (a.yes, request)
    };
    match command {
        CertificateCommand::List => {
            show::<CertificateCaList>(client, target, &NoInput {}, json).await
        }
        CertificateCommand::Create(a) => {
            let (yes, request) = object(a);
            let ask = (yes, "trust a CA certificate");
            show_confirmed::<CertificateCaCreate>(client, target, ask, &request, json).await
        }
        CertificateCommand::Update(a) => {
            let (yes, request) = object(a);
            let ask = (yes, "replace a CA certificate");
            show_confirmed::<CertificateCaUpdate>(client, target, ask, &request, json).await
        }
        CertificateCommand::Delete { name, yes } => {
            let ask = (yes, "stop trusting a CA certificate");
            show_confirmed::<CertificateCaDelete>(client, target, ask, &CaName { name }, json).await
        }
    }
}

impl Cells for CaList {
    const COLUMNS: &'static [&'static str] = &["name", "source"];
    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        self.certificates
            .iter()
            .flatten()
            .map(|c| {
                let source = match c.source {
                    CaSource::System => "system",
                    CaSource::Custom => "custom",
                };
                vec![c.name.clone(), source.to_owned()]
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::Cli;

    /// Every command line of the account and certificate commands parses.
    #[test]
    fn the_originals_command_lines_parse() {
        for line in [
            "client node group list",
            "client node group update --name devs --members a,b",
            "client node user create --name bob --uid 1500 --groups a,b --password p --system",
            "client node user update --name bob --lock",
            "client node user update --name bob --groups a --shell /bin/sh",
            "client node user password --name bob --password p",
            "client node user ssh-key remove --name bob --fingerprint SHA256:x",
            "client node certificate create --name corp --object corp.pem",
            "client node certificate delete --name corp -y",
        ] {
            let args = std::iter::once("osapi").chain(line.split(' '));
            if let Err(e) = Cli::try_parse_from(args) {
                panic!("{line}: {e}");
            }
        }
        for refused in [
            "client node user update --name bob",
            "client node user update --name bob --lock --unlock",
        ] {
            let args = std::iter::once("osapi").chain(refused.split(' '));
            assert!(Cli::try_parse_from(args).is_err(), "{refused}");
        }
    }
}
