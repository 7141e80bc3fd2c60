//! Regenerates `ui/src/api/generated/` from the Rust types (docs/desktop-ipc.md):
//! `cargo run -p dmp-desktop --bin dmp-ipc-types`.
#![forbid(unsafe_code)]

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/api/generated");
    if dir.exists() {
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            eprintln!("error: cannot clear {}: {e}", dir.display());
            std::process::exit(1);
        }
    }
    match dmp_desktop::contract::export_bindings(&dir) {
        Ok(()) => println!("wrote {}", dir.display()),
        Err(e) => {
            eprintln!("error: cannot write the TypeScript types: {e}");
            std::process::exit(1);
        }
    }
}
