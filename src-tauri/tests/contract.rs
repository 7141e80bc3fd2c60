//! The TypeScript types in `ui/src/api/generated/` are what the Rust types
//! generate now (docs/desktop-ipc.md "Generated types").
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;

const REGENERATE: &str = "cargo run -p dmp-desktop --bin dmp-ipc-types";

fn files(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        std::fs::read_to_string(e.path()).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn generated_typescript_types_are_up_to_date() {
    let fresh = tempfile::tempdir().unwrap();
    dmp_desktop::contract::export_bindings(fresh.path()).unwrap();
    let fresh = files(fresh.path());
    assert!(fresh.contains_key("Inbox.ts") && fresh.contains_key("index.ts"));
    let committed = files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/api/generated"));
    let stale: Vec<&String> = fresh
        .keys()
        .chain(committed.keys())
        .filter(|name| fresh.get(*name) != committed.get(*name))
        .collect();
    assert!(
        stale.is_empty(),
        "ui/src/api/generated/ is stale ({stale:?}); run `{REGENERATE}` and commit the result"
    );
}
