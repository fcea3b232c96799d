-- Transactional outbox: written in the business transaction, published by the relay.
create table outbox (
    event_id       uuid        primary key,
    position       bigint      generated always as identity unique,
    subject        text        not null,
    event_type     text        not null,
    tenant_id      uuid        not null,
    aggregate_type text        not null,
    aggregate_id   text        not null,
    sequence       bigint      not null,
    envelope       bytea       not null,
    traceparent    text        not null default '',
    created_at     timestamptz not null default now(),
    published_at   timestamptz,
    unique (aggregate_type, aggregate_id, sequence)
);

create index outbox_pending on outbox (position) where published_at is null;
create index outbox_created_at on outbox (created_at);

-- The last sequence number handed out per aggregate (outbox rows are pruned, sequences are not).
create table aggregate_sequences (
    aggregate_type text   not null,
    aggregate_id   text   not null,
    last_sequence  bigint not null,
    primary key (aggregate_type, aggregate_id)
);

-- Wakes the relay at commit time instead of a slow poll.
create function outbox_notify() returns trigger language plpgsql as $$
begin
    perform pg_notify('anju_outbox', '');
    return null;
end;
$$;

create trigger outbox_notify after insert on outbox
    for each statement execute function outbox_notify();

-- Inbox: the events a consumer has applied, recorded in the same transaction as the effect.
create table inbox (
    consumer    text        not null,
    event_id    uuid        not null,
    event_type  text        not null,
    received_at timestamptz not null default now(),
    primary key (consumer, event_id)
);
