-- The developer's deadline for a contractor's repair plan: a third clock of a work order.
alter table repair_requests
    add column plan_by       timestamptz,
    add column plan_at       timestamptz,
    add column plan_warned   boolean not null default false,
    add column plan_breached boolean not null default false;
