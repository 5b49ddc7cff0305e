//! file-changed: upload only what differs. `file_changed(name, data)` compares local
//! content with the stored object by SHA-256 and reports `changed` when the object is
//! missing or different; an `.only_if_changed()` upload follows it. The second check,
//! after the upload, finds nothing to do, so the second upload is skipped.
//!
//! Env: OSAPI_EXAMPLE_LEVEL (default `info`) changes the content.
//!
//! DAG:
//!   check-file
//!       └── upload-file   (only if changed)
//!               └── check-file-2
//!                       └── upload-file-2   (only if changed: skipped)
//!
//! Run: `cargo run --example file-changed` (with OSAPI_TOKEN set)

use osapi::orchestrator::ops::types::FileChangedResult;
use osapi::orchestrator::Orchestrator;

const OBJECT: &str = "osapi-example-config";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let level = std::env::var("OSAPI_EXAMPLE_LEVEL").unwrap_or_else(|_| "info".into());
    let content = format!("# written by the file-changed example\nlog_level = {level}\n");

    let mut o = Orchestrator::from_env()?;
    let check = o.file_changed(OBJECT, content.clone()).id();
    // Forced: the object may exist with other content, which a plain upload refuses.
    let upload = o
        .file_upload_forced(OBJECT, "raw", content.clone())
        .after(check)
        .only_if_changed()
        .id();
    // A guard skip does not propagate: check-file-2 runs whether or not upload-file did.
    let recheck = o.file_changed(OBJECT, content.clone()).after(upload).id();
    o.file_upload_forced(OBJECT, "raw", content)
        .after(recheck)
        .only_if_changed();

    let report = o.run().await.inspect_err(|e| eprintln!("error: {e}"))?;

    let first: FileChangedResult = report.decode("check-file")?;
    let second: FileChangedResult = report.decode("check-file-2")?;
    println!(
        "\nfirst check:  changed={} -> upload-file {}",
        first.changed,
        report.status("upload-file")
    );
    println!(
        "second check: changed={} -> upload-file-2 {}",
        second.changed,
        report.status("upload-file-2")
    );
    Ok(())
}
