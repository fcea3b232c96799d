//! Complaints' vocabulary: the channels a complaint comes in by and its severities, as the
//! wire names them and as they are stored.

use anju_proto::complaints as pb;

pub const CHANNELS: [(pb::ComplaintChannel, &str); 4] = [
    (pb::ComplaintChannel::Phone, "phone"),
    (pb::ComplaintChannel::Written, "written"),
    (pb::ComplaintChannel::Visit, "visit"),
    (pb::ComplaintChannel::Online, "online"),
];

pub const SEVERITIES: [(pb::Severity, &str); 4] = [
    (pb::Severity::Low, "low"),
    (pb::Severity::Medium, "medium"),
    (pb::Severity::High, "high"),
    (pb::Severity::Urgent, "urgent"),
];

/// The stored name of a wire value (`None` for an unknown or unspecified one).
pub fn name_of<E: PartialEq + Copy>(
    table: &[(E, &'static str)],
    value: Option<E>,
) -> Option<&'static str> {
    let value = value?;
    table.iter().find(|(e, _)| *e == value).map(|(_, n)| *n)
}

/// The wire value of a stored name.
pub fn value_of<E: Copy>(table: &[(E, &'static str)], name: &str, default: E) -> E {
    table
        .iter()
        .find(|(_, n)| *n == name)
        .map_or(default, |(e, _)| *e)
}
