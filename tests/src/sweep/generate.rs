//! Random requests of any message type, from its descriptor: values an honest client sends
//! (ids of objects that exist, dates, "CNY") mixed with what the validator must stop —
//! empty and 10,000-character text, NUL, control characters, bidi overrides, emoji,
//! integer extremes, unknown enum numbers, long repeated fields, absent nested messages.

use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, Value};
use rand::{Rng, rngs::StdRng, seq::IndexedRandom};

/// Realistic values for the generator to mix in.
#[derive(Clone, Debug, Default)]
pub struct Seeds {
    /// Ids of objects that exist in the sweep's tenant.
    pub ids: Vec<String>,
}

/// How far a request strays from an ordinary one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Ordinary,
    /// Every repeated field holds 10,000 entries (of short values, to stay under the message
    /// size limit where one entry is small).
    Huge,
}

const HOSTILE: &[&str] = &[
    "",
    " ",
    "\0",
    "abc\0def",
    "\u{7}\u{1b}[31m",
    "line\r\nbreak",
    "\u{202e}gnp.exe",
    "\u{2066}isolate\u{2069}",
    "🏠🔑👨‍👩‍👧",
    "' or 1=1 --",
    "%s%n",
    "\u{fffd}",
    "*",
];

pub fn message(
    descriptor: &MessageDescriptor,
    rng: &mut StdRng,
    seeds: &Seeds,
    shape: Shape,
) -> DynamicMessage {
    fill(descriptor, rng, seeds, shape, 0)
}

fn fill(
    descriptor: &MessageDescriptor,
    rng: &mut StdRng,
    seeds: &Seeds,
    shape: Shape,
    depth: usize,
) -> DynamicMessage {
    let mut message = DynamicMessage::new(descriptor.clone());
    for field in descriptor.fields() {
        if field.is_map() || rng.random_bool(0.15) {
            continue;
        }
        let value = if field.is_list() {
            let n = match shape {
                Shape::Huge => 10_000,
                Shape::Ordinary => *[0, 1, 2, 3, 5, rng.random_range(0..300)]
                    .choose(rng)
                    .expect("a length"),
            };
            Value::List(
                (0..n)
                    .filter_map(|_| single(&field, rng, seeds, shape, depth))
                    .collect(),
            )
        } else {
            match single(&field, rng, seeds, shape, depth) {
                Some(value) => value,
                None => continue,
            }
        };
        message.set_field(&field, value);
    }
    message
}

fn single(
    field: &FieldDescriptor,
    rng: &mut StdRng,
    seeds: &Seeds,
    shape: Shape,
    depth: usize,
) -> Option<Value> {
    Some(match field.kind() {
        Kind::String => Value::String(text(field.name(), rng, seeds, shape)),
        Kind::Bytes => Value::Bytes(
            (0..rng.random_range(0..64))
                .map(|_| rng.random::<u8>())
                .collect::<Vec<u8>>()
                .into(),
        ),
        Kind::Bool => Value::Bool(rng.random()),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(
            *[
                0,
                -1,
                1,
                i32::MAX,
                i32::MIN,
                rng.random_range(-1_000..100_000),
            ]
            .choose(rng)?,
        ),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(
            *[
                0,
                -1,
                1,
                i64::MAX,
                i64::MIN,
                i64::from(i32::MAX),
                rng.random_range(-1_000..100_000_000),
            ]
            .choose(rng)?,
        ),
        Kind::Uint32 | Kind::Fixed32 => {
            Value::U32(*[0, 1, u32::MAX, rng.random_range(0..100_000)].choose(rng)?)
        }
        Kind::Uint64 | Kind::Fixed64 => {
            Value::U64(*[0, 1, u64::MAX, rng.random_range(0..100_000)].choose(rng)?)
        }
        Kind::Float => Value::F32(*[0.0, -1.0, f32::NAN, f32::INFINITY, 1.5].choose(rng)?),
        Kind::Double => Value::F64(*[0.0, -1.0, f64::NAN, f64::INFINITY, 1.5].choose(rng)?),
        Kind::Enum(descriptor) => {
            let known: Vec<i32> = descriptor.values().map(|v| v.number()).collect();
            let unknown = [-1, 99, i32::MAX, i32::MIN];
            if rng.random_bool(0.8) {
                Value::EnumNumber(*known.choose(rng)?)
            } else {
                Value::EnumNumber(*unknown.choose(rng)?)
            }
        }
        Kind::Message(nested) => {
            if depth >= 3 || rng.random_bool(0.2) {
                return None;
            }
            let nested_shape = if shape == Shape::Huge && depth >= 1 {
                Shape::Ordinary
            } else {
                shape
            };
            Value::Message(fill(&nested, rng, seeds, nested_shape, depth + 1))
        }
    })
}

fn text(name: &str, rng: &mut StdRng, seeds: &Seeds, shape: Shape) -> String {
    let plausible = rng.random_bool(0.5);
    if plausible {
        if name.ends_with("_id") && !seeds.ids.is_empty() && rng.random_bool(0.8) {
            return seeds.ids.choose(rng).expect("an id").clone();
        }
        if name.ends_with("_id") {
            return uuid::Uuid::now_v7().to_string();
        }
        if name == "currency" {
            return "CNY".into();
        }
        if name.ends_with("_on") || name.contains("date") || name.starts_with("window_") {
            let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 4).expect("a date")
                + chrono::Duration::days(rng.random_range(-400..400));
            return day.to_string();
        }
        if name == "month" {
            return format!("2026-{:02}", rng.random_range(1..=12));
        }
        return format!("sweep {}", rng.random_range(0..1_000_000));
    }
    if shape == Shape::Huge {
        return HOSTILE.choose(rng).expect("a value").to_string();
    }
    match rng.random_range(0..4) {
        0 => "x".repeat(10_000),
        1 => "漢".repeat(rng.random_range(1..300)),
        _ => HOSTILE.choose(rng).expect("a value").to_string(),
    }
}
