-- Platform tables every service database carries: request idempotency and the audit trail.

create table idempotency_keys (
    tenant_id    uuid        not null,
    method       text        not null,
    request_id   text        not null,
    request_hash bytea       not null,
    response     bytea       not null,
    created_at   timestamptz not null default now(),
    primary key (tenant_id, method, request_id)
);

create index idempotency_keys_created_at on idempotency_keys (created_at);

-- Every state-changing call: who, what, when, under which request id.
create table audit_log (
    audit_id     uuid        primary key,
    tenant_id    uuid        not null,
    actor        text        not null,
    roles        text[]      not null,
    method       text        not null,
    request_id   text        not null,
    subject_type text        not null,
    subject_id   text        not null,
    detail       jsonb       not null default '{}'::jsonb,
    occurred_at  timestamptz not null default now()
);

create index audit_log_tenant_subject on audit_log (tenant_id, subject_type, subject_id);
