//! The README's five-line example: the same lines as examples/readme.rs, which runs against the
//! real binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::harness::{Ctx, local_tests, tests, text};

tests![the_readme_example_runs];
local_tests![the_readme_example_is_five_lines_of_examples_readme];

const MARKER: &str = "<!-- readme-example:";

fn crate_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The lines of the ```rust block after the `readme-example` marker.
fn readme_example() -> Vec<String> {
    let readme = crate_file("README.md");
    let after = &readme[readme.find(MARKER).expect("README.md has a readme-example marker")..];
    let block = after.split("```rust\n").nth(1).expect("a ```rust block after the marker");
    let block = &block[..block.find("```").expect("the block ends")];
    block.lines().filter(|line| !line.trim().is_empty()).map(str::to_owned).collect()
}

async fn the_readme_example_is_five_lines_of_examples_readme() {
    let lines = readme_example();
    assert_eq!(lines.len(), 5, "{lines:#?}");
    let example = crate_file("examples/readme.rs");
    let body: Vec<&str> = example.lines().map(str::trim).collect();
    let start = body.iter().position(|line| *line == lines[0]).expect("examples/readme.rs has the README's first line");
    assert_eq!(body[start..start + lines.len()], lines.iter().map(String::as_str).collect::<Vec<_>>()[..]);
}

/// The example program `cargo test` builds beside the test binaries (`--all-targets` builds
/// examples as test harnesses instead).
fn example_binary() -> PathBuf {
    let deps = std::env::current_exe().expect("the test binary's path");
    let path = deps.parent().and_then(Path::parent).expect("target/<profile>").join("examples/readme");
    assert!(
        path.is_file(),
        "{} is missing: cargo test without --all-targets, or cargo build --examples, builds it",
        path.display()
    );
    path
}

fn run(ctx: &Ctx, cookie_header: &str) -> String {
    let done = Command::new(example_binary())
        .env("AUTHBRIDGE_URL", &ctx.server().url)
        .env("AUTHBRIDGE_SESSION_READ_KEY", &ctx.keys().reader)
        .env("HTTP_COOKIE", cookie_header)
        .output()
        .expect("the example runs");
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    String::from_utf8(done.stdout).expect("UTF-8").trim().to_owned()
}

async fn the_readme_example_runs(ctx: Ctx) {
    let adapter = ctx.adapter();
    let user = adapter.create_user(json!({})).await;
    let created = adapter.create_session(&user).await;
    let token = text(&created, "sessionToken");

    let signed_in = run(&ctx, &format!("theme=dark; __Secure-authjs.session-token={token}"));
    let prefix = format!("signed in as {} until ", text(&user, "id"));
    let until = signed_in.strip_prefix(&prefix).and_then(|rest| rest.strip_suffix(" UTC"));
    let until = until.unwrap_or_else(|| panic!("{signed_in}"));
    assert!(chrono::NaiveDateTime::parse_from_str(until, "%Y-%m-%d %H:%M").is_ok(), "{signed_in}");
    assert_eq!(run(&ctx, "theme=dark"), "signed out");
    adapter.call("deleteSession", json!({ "sessionToken": token })).await;
    assert_eq!(run(&ctx, &format!("authjs.session-token={token}")), "signed out");
}
