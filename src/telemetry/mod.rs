//! Logging setup (tracing). Logs go to stderr so stdout stays for command output.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber: `debug` lowers the level, `json` switches to JSON lines.
/// `RUST_LOG` overrides both.
pub fn init_logging(debug: bool, json: bool) {
    let default = if debug {
        "debug,async_nats=info,hyper=info"
    } else {
        "info"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests) is harmless: the first subscriber stays.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

pub mod metrics;
pub mod otel;
