//! Every business refusal's reason code is documented where clients read the contract: each
//! code a service's source refuses with appears in that service's proto, so the list there is
//! complete (a code added without its line fails here).

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
};

fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The reason codes in `text`: the first string argument of `Refusal::new(` and of
/// `precondition(`.
fn codes(text: &str) -> BTreeSet<String> {
    let mut codes = BTreeSet::new();
    for call in ["Refusal::new(", "precondition("] {
        for (at, _) in text.match_indices(call) {
            let rest = text[at + call.len()..].trim_start();
            let Some(quoted) = rest.strip_prefix('"') else {
                continue;
            };
            let code: String = quoted.chars().take_while(|c| *c != '"').collect();
            codes.insert(code);
        }
    }
    codes
}

#[test]
fn every_reason_code_is_listed_in_its_services_proto() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut checked = 0;
    for service in [
        "sales",
        "finance",
        "handover",
        "maintenance",
        "complaints",
        "title",
        "saga",
    ] {
        let mut files = Vec::new();
        sources(&root.join("services").join(service).join("src"), &mut files);
        let used: BTreeSet<String> = files
            .iter()
            .flat_map(|f| codes(&fs::read_to_string(f).unwrap()))
            .collect();
        let proto = fs::read_to_string(
            root.join("proto/anju")
                .join(service)
                .join("v1")
                .join(format!("{service}.proto")),
        )
        .unwrap();
        for code in &used {
            assert!(
                !code.is_empty()
                    && code
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
                "{service}: reason {code:?} is not UPPER_SNAKE_CASE"
            );
            assert!(
                proto.contains(&format!("//   {code} ")),
                "{service}: reason {code} is not listed in {service}.proto"
            );
            checked += 1;
        }
    }
    assert!(checked >= 30, "reason codes found: {checked}");
}
