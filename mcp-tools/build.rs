//! Rebuilds the crate when a migration is added or edited: `sqlx::migrate!` embeds the files at compile
//! time, and cargo would not otherwise notice a new `.sql` file.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=migrations_postgres");
    println!("cargo:rerun-if-changed=migrations_sales");
}
