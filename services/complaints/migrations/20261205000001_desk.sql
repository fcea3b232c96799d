-- The desk: complaints routed, resolved and followed up within the service level standard.

-- The channels as the seed names them; categories from a fixed list.
alter table complaints drop constraint complaints_channel_check;
update complaints set channel = 'letter' where channel = 'written';
update complaints set channel = 'counter' where channel = 'visit';
update complaints set category = 'other'
    where category not in ('quality', 'fees', 'property_management', 'sales', 'other');

alter table complaints
    add constraint complaints_channel_check check (channel in ('phone', 'letter', 'counter', 'online')),
    add constraint complaints_category_check
        check (category in ('quality', 'fees', 'property_management', 'sales', 'other')),
    add column complainant_kind text not null default 'owner' check (complainant_kind in ('owner', 'other')),
    add column customer_id     uuid,
    add column contact_phone   text not null default '',
    add column common_part     text not null default '',
    add column related_kind    text check (related_kind in ('work_order', 'charge', 'contract')),
    add column related_id      uuid,
    add column queue           text not null default 'customer_service'
        check (queue in ('maintenance', 'finance', 'property_management', 'sales', 'customer_service')),
    add column assignee        text not null default '',
    add column status          text not null default 'open' check (status in ('open', 'resolved', 'closed')),
    add column round           int  not null default 1 check (round >= 1),
    add column reopen_count    int  not null default 0,
    add column waiting_since   timestamptz,
    add column waiting_reason  text not null default '',
    add column resolution      text not null default '',
    add column repair_request_id uuid,
    add column repair_closed   boolean not null default false,
    add column repeat_of       uuid,
    add column acknowledged_at timestamptz,
    add column taken_at        timestamptz,
    add column resolved_at     timestamptz,
    add column closed_at       timestamptz,
    -- The month it counts in, in its standard's time zone.
    add column recorded_month  text not null default to_char(now(), 'YYYY-MM'),
    -- The standard in force when it was recorded (domain::standard::Terms), kept.
    add column terms           jsonb not null default '{}';

create index complaints_unit on complaints (tenant_id, unit_id, recorded_at desc) where unit_id is not null;
create index complaints_customer on complaints (tenant_id, customer_id) where customer_id is not null;
create index complaints_month on complaints (tenant_id, project_id, recorded_month);

-- Standards: the tenant's (project_id is the nil uuid) and projects' (domain::standard::Standard).
create table service_standards (
    tenant_id   uuid        not null,
    project_id  uuid        not null,
    standard    jsonb       not null,
    updated_at  timestamptz not null default now(),
    primary key (tenant_id, project_id)
);

-- A complaint's clocks, one per target and round. next_at is the next instant the sweeper has
-- work on it (its warning, else its breach); null while paused, stopped or all fired, so the
-- sweeper's look-up stays one index probe however many clocks run.
create table complaint_clocks (
    complaint_id      uuid        not null references complaints,
    round             int         not null,
    target            text        not null check (target in ('acknowledge', 'route', 'resolve', 'follow_up')),
    tenant_id         uuid        not null,
    project_id        uuid        not null,
    target_minutes    int         not null,
    started_at        timestamptz not null,
    consumed_seconds  bigint      not null default 0,
    running_since     timestamptz,
    warn_at           timestamptz,
    due_at            timestamptz,
    next_at           timestamptz,
    warned_at         timestamptz,
    breached_at       timestamptz,
    stopped_at        timestamptz,
    met               boolean,
    primary key (complaint_id, round, target)
);

create index complaint_clocks_next on complaint_clocks (next_at) where next_at is not null;

create table complaint_assignments (
    complaint_id uuid        not null references complaints,
    seq          int         not null,
    from_queue   text        not null,
    to_queue     text        not null,
    assignee     text        not null,
    reason       text        not null,
    assigned_by  text        not null,
    assigned_at  timestamptz not null default now(),
    primary key (complaint_id, seq)
);

create table complaint_follow_ups (
    complaint_id uuid        not null references complaints,
    round        int         not null,
    visited_by   text        not null,
    satisfaction int         not null check (satisfaction between 1 and 5),
    notes        text        not null,
    -- domain::reopens, as decided at the visit.
    reopened     boolean     not null,
    visited_at   timestamptz not null default now(),
    primary key (complaint_id, round)
);

create table complaint_escalations (
    complaint_id uuid        not null references complaints,
    round        int         not null,
    target       text        not null,
    escalated_to text        not null,
    escalated_at timestamptz not null default now(),
    primary key (complaint_id, round, target)
);
