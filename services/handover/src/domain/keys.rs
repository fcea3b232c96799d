//! A unit's keys (seed ⑧ 5.1: the owner signs for each kind; the management office keeps the
//! spare set and lends it out against a signature).

/// The kinds of key a unit has.
pub const KEY_KINDS: [&str; 5] = [
    "security_door",
    "interior_door",
    "intercom_door",
    "water_meter_box",
    "mailbox",
];

/// Each kind's two sets and where each is once the keys are handed over.
pub const KEY_SETS: [(&str, &str); 2] = [("owner", "handed_over"), ("spare", "in_office")];

/// The key sets a release hands over: every kind, both sets, `(kind, set, status)`.
pub fn released() -> impl Iterator<Item = (&'static str, &'static str, &'static str)> {
    KEY_KINDS.into_iter().flat_map(|kind| {
        KEY_SETS
            .into_iter()
            .map(move |(set, status)| (kind, set, status))
    })
}
