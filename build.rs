// The migrations are embedded at compile time (`embed_migrations!`); without this, adding a
// migration directory would not rebuild the crate and the binary would miss it.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
