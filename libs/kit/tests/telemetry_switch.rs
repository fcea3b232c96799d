//! The telemetry switch the benchmark measures with: while it is off, spans get no
//! OpenTelemetry context (nothing would be exported); on again, they do. Its own test binary,
//! since the switch is the whole process's.

use anju_kit::telemetry;

fn traced(span: &tracing::Span) -> bool {
    telemetry::trace_id_of(span) != "00000000000000000000000000000000"
}

#[test]
fn spans_reach_opentelemetry_only_while_telemetry_is_on() {
    telemetry::init_for_tests();
    assert!(telemetry::enabled());
    assert!(traced(&tracing::info_span!("before")));

    telemetry::set_enabled(false);
    assert!(!telemetry::enabled());
    let off = tracing::info_span!("while off");
    assert!(!traced(&off), "no trace id while off");
    assert!(telemetry::current_traceparent().is_empty());

    telemetry::set_enabled(true);
    let on = tracing::info_span!("after");
    assert!(traced(&on), "a trace id again");
    assert!(
        on.in_scope(telemetry::current_traceparent)
            .contains(&telemetry::trace_id_of(&on))
    );
}
