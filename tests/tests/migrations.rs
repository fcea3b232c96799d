//! A migration, once committed, is never edited: a database that applied it (a deployment,
//! `make run`'s) refuses to start on a changed one (sqlx keeps each migration's checksum).
//! `deploy/migrations.sha256` records every migration's SHA-256; a change is a new migration.

use std::{collections::BTreeMap, path::Path};

use sha2::{Digest, Sha256};

const LOCK: &str = "deploy/migrations.sha256";

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Every migration of the workspace: relative path → SHA-256 (hex).
fn migrations() -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let dirs = ["libs", "services"]
        .into_iter()
        .flat_map(|top| std::fs::read_dir(root().join(top)).unwrap())
        .map(|entry| entry.unwrap().path().join("migrations"))
        .filter(|dir| dir.is_dir());
    for dir in dirs {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "sql") {
                let relative = path.strip_prefix(root()).unwrap().display().to_string();
                let hash = hex::encode(Sha256::digest(std::fs::read(&path).unwrap()));
                found.insert(relative, hash);
            }
        }
    }
    found
}

#[test]
fn no_committed_migration_changes_and_every_one_is_recorded() {
    let recorded: BTreeMap<String, String> = std::fs::read_to_string(root().join(LOCK))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (hash, path) = l.split_once("  ")?;
            Some((path.to_string(), hash.to_string()))
        })
        .collect();
    let found = migrations();
    let changed: Vec<&String> = found
        .iter()
        .filter(|(path, hash)| recorded.get(*path).is_some_and(|r| r != *hash))
        .map(|(path, _)| path)
        .collect();
    assert!(
        changed.is_empty(),
        "migrations changed after they were recorded (a database that applied them will not \
         start): {changed:?} — put the change in a new migration"
    );
    let gone: Vec<&String> = recorded
        .keys()
        .filter(|p| !found.contains_key(*p))
        .collect();
    assert!(gone.is_empty(), "recorded migrations missing: {gone:?}");
    let new: Vec<String> = found
        .iter()
        .filter(|(path, _)| !recorded.contains_key(*path))
        .map(|(path, hash)| format!("{hash}  {path}"))
        .collect();
    assert!(
        new.is_empty(),
        "new migrations: record them in {LOCK} (`sha256sum` from the checkout's root):\n{}",
        new.join("\n")
    );
}
