-- The trace a command or a timer belongs to (the W3C traceparent of the transition that
-- created it), so the call the dispatcher makes later, or the step a timer fires days later,
-- in another task or another coordinator, continues the journey's trace instead of starting
-- one of its own. Empty for those created outside any trace.
alter table saga_commands add column traceparent text not null default '';
alter table saga_timers add column traceparent text not null default '';
