use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = osapi::cli::Cli::parse();
    let mut runtime = match cli.single_threaded() {
        true => tokio::runtime::Builder::new_current_thread(),
        false => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match runtime.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(osapi::cli::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line. Many messages already quote their cause
/// (`cannot read config file x: No such file ...`): a cause is added only when its text
/// is not there yet.
fn describe(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn causes_already_quoted_are_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let quoted = anyhow::Error::new(io).context("cannot read x: gone");
        assert_eq!(describe(&quoted), "cannot read x: gone");
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let plain = anyhow::Error::new(io).context("cannot read x");
        assert_eq!(describe(&plain), "cannot read x: gone");
    }
}
