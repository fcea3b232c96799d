//! Time on the wire: `google.protobuf.Timestamp`, always UTC.

use chrono::{DateTime, Utc};

pub fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}
