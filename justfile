# Task runner: `just <recipe>` (https://github.com/casey/just). Each recipe is plain cargo.

# Run every test (unit + integration against a real nats-server).
test:
    cargo test

# Start NATS, controller and agent with the example config.
start:
    cargo run --release -- -f osapi.yaml.example start

# Formatting and lints, as CI runs them.
lint:
    cargo fmt --all -- --check
    cargo clippy --all-targets -- -D warnings

# Latency benchmark: one hostname job through HTTP vs one raw NATS request-reply, then the
# job and agent listings.
bench:
    cargo bench --bench hostname_latency
    cargo bench --bench sustained_load
