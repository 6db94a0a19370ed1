use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = authbridge::config::Cli::parse();
    authbridge::startup::init_tracing(cli.config.log_format);
    authbridge::startup::run(cli).await
}
