//! `sqlx::migrate!` embeds `migrations/` at build time, but cargo only
//! notices changes to the files it already included: rebuild when a file
//! there is added, renamed or changed too (as sqlx's documentation advises).

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
