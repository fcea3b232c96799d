-- The durable saga engine: state, history, pending commands and timers, all advanced in
-- one transaction per input (event, timer firing, operator action).

alter table sagas add column state_data jsonb not null default '{}'::jsonb;
alter table sagas add column terminal boolean not null default false;
alter table sagas add column version integer not null default 0;
-- Past this instant a non-terminal saga counts as stuck.
alter table sagas add column deadline timestamptz;
alter table sagas rename column subject_id to saga_key;
alter table sagas rename constraint sagas_flow_subject_key to sagas_flow_key_key;

create index sagas_stuck on sagas (deadline) where not terminal;

-- Every input and what it did, in order.
create table saga_history (
    saga_id    uuid        not null references sagas (saga_id),
    version    integer     not null,
    input      text        not null,
    state      text        not null,
    note       text        not null default '',
    commands   jsonb       not null default '[]'::jsonb,
    at         timestamptz not null default now(),
    primary key (saga_id, version)
);

-- Commands to other services, sent by the dispatcher with command_id as the request id,
-- so a command sent twice acts once.
create table saga_commands (
    command_id      uuid        primary key,
    saga_id         uuid        not null references sagas (saga_id),
    tenant_id       uuid        not null,
    service         text        not null,
    method          text        not null,
    payload         bytea       not null,
    status          text        not null default 'pending' check (status in ('pending', 'running', 'done', 'failed')),
    attempts        integer     not null default 0,
    last_error      text,
    next_attempt_at timestamptz not null default now(),
    claimed_at      timestamptz,
    created_at      timestamptz not null default now(),
    done_at         timestamptz
);

create index saga_commands_due on saga_commands (next_attempt_at) where status in ('pending', 'running');
create index saga_commands_saga on saga_commands (saga_id);

-- Timers survive restarts and fire once: fired_at is set in the transaction that applies them.
create table saga_timers (
    saga_id  uuid        not null references sagas (saga_id),
    name     text        not null,
    fire_at  timestamptz not null,
    fired_at timestamptz,
    primary key (saga_id, name)
);

create index saga_timers_due on saga_timers (fire_at) where fired_at is null;

-- Events for a saga that does not exist yet (they arrived before the one that starts it).
create table saga_parked_events (
    tenant_id  uuid        not null,
    flow       text        not null,
    saga_key   text        not null,
    event_id   uuid        not null,
    subject    text        not null,
    envelope   bytea       not null,
    parked_at  timestamptz not null default now(),
    primary key (flow, saga_key, event_id)
);
