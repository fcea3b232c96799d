-- Charges (receivables and payables) per payer and unit, in integer minor units.
create table charges (
    charge_id    uuid        primary key,
    tenant_id    uuid        not null,
    project_id   uuid        not null,
    unit_id      uuid        not null,
    payer_id     text        not null,
    purpose      text        not null,
    amount_minor bigint      not null check (amount_minor > 0),
    currency     text        not null,
    -- Issuing is idempotent by this key: a replayed command never bills twice.
    business_key text        not null,
    due_at       timestamptz,
    created_at   timestamptz not null default now(),
    constraint charges_tenant_business_key unique (tenant_id, business_key)
);

create index charges_tenant_unit on charges (tenant_id, unit_id, charge_id);
