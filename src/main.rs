use std::process::ExitCode;

use clap::Parser;

/// glibc's malloc and free took about a tenth of authbridge's CPU time under the session-read
/// load (perf); mimalloc's per-thread free lists cost far less for hyper's and serde's short-lived
/// allocations.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = authbridge::config::Cli::parse();
    authbridge::startup::init_tracing(cli.config.log_format);
    authbridge::startup::run(cli).await
}
