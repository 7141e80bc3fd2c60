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

/// Reads the names between `start` and the next `end` of a source file.
fn names_in(source: &str, start: &str, end: &str) -> Vec<String> {
    let from = source.find(start).expect("list start") + start.len();
    let body = &source[from..];
    let body = &body[..body.find(end).expect("list end")];
    body.split(',')
        .map(|n| {
            n.trim()
                .trim_matches('"')
                .rsplit("::")
                .next()
                .unwrap()
                .to_owned()
        })
        .filter(|n| !n.is_empty())
        .collect()
}

/// Every command the shell registers is declared in the app manifest
/// (build.rs) and granted to the window (capabilities/default.json): with an
/// app manifest Tauri refuses any other command ("not allowed by ACL"), which
/// only the real window would show. Every command the UI calls exists.
#[test]
fn every_command_is_declared_granted_and_registered() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |p: &str| std::fs::read_to_string(dir.join(p)).unwrap();
    let mut registered = names_in(&read("src/lib.rs"), "generate_handler![", "]");
    registered.sort();
    let mut declared = names_in(&read("build.rs"), "const COMMANDS: &[&str] = &[", "]");
    declared.sort();
    assert_eq!(
        declared, registered,
        "build.rs COMMANDS vs generate_handler!"
    );

    let capability: serde_json::Value =
        serde_json::from_str(&read("capabilities/default.json")).unwrap();
    let granted: std::collections::BTreeSet<String> = capability["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str()?.strip_prefix("allow-").map(str::to_owned))
        .collect();
    for command in &registered {
        assert!(
            granted.contains(&command.replace('_', "-")),
            "capabilities/default.json does not grant `{command}`"
        );
    }

    let ui = read("../ui/src/api/commands.ts");
    let called: std::collections::BTreeSet<&str> = ui
        .split("call<")
        .skip(1)
        .filter_map(|rest| rest.split_once(">('")?.1.split('\'').next())
        .collect();
    assert!(
        called.len() > 20,
        "the UI's calls were not found: {called:?}"
    );
    for command in called {
        assert!(
            registered.iter().any(|r| r == command),
            "the UI calls `{command}`, which the shell does not register"
        );
    }
}
