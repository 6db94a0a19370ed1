//! The README's five-line example as written: tests/it/readme.rs checks that the README's
//! `readme-example` block is this function's body, and runs this program against the real binary.
#![allow(clippy::print_stdout)] // printing is what the example shows

#[rustfmt::skip] // kept line for line as in the README
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    use authbridge_client::{Client, session_token_from_cookies};
    let authbridge = Client::new(&std::env::var("AUTHBRIDGE_URL")?, std::env::var("AUTHBRIDGE_SESSION_READ_KEY")?)?;
    let token = session_token_from_cookies(&std::env::var("HTTP_COOKIE")?);
    let found = authbridge.get_session_and_user(token.as_deref()).await?;
    println!("{}", found.map_or("signed out".into(), |found| format!("signed in as {} until {} UTC", found.user.id, found.session.expires.format("%Y-%m-%d %H:%M"))));
    Ok(())
}
