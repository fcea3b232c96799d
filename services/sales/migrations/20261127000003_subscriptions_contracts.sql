-- Sales policy per project (DOMAIN.md defaults).
alter table projects add column lapse_refund_bp integer not null default 0 check (lapse_refund_bp between 0 and 10000);
alter table projects add column lapse_after_minutes integer not null default 1440 check (lapse_after_minutes between 0 and 10080);
alter table projects add column max_homes_owned integer not null default -1 check (max_homes_owned >= -1);
alter table projects add column cancellation_refund_bp integer not null default 10000 check (cancellation_refund_bp between 0 and 10000);

-- Subscriptions (認購): a small deposit holds the unit until the top-up due date.
create table subscriptions (
    subscription_id     uuid        primary key,
    tenant_id           uuid        not null,
    project_id          uuid        not null references projects (project_id),
    unit_id             uuid        not null references units (unit_id),
    customer_id         uuid        not null references customers (customer_id),
    price_minor         bigint      not null check (price_minor > 0),
    small_deposit_minor bigint      not null check (small_deposit_minor > 0),
    full_deposit_minor  bigint      not null,
    currency            text        not null,
    top_up_due_on       date        not null,
    lapses_at           timestamptz not null,
    lapse_refund_bp     integer     not null,
    id_number           text        not null,
    status              text        not null default 'pending'
                        check (status in ('pending', 'confirmed', 'lapsed', 'contracted')),
    created_at          timestamptz not null default now(),
    check (small_deposit_minor <= full_deposit_minor),
    -- A deposit may not exceed 20 % of the price (Civil Code art. 586).
    constraint subscriptions_deposit_cap check (full_deposit_minor * 5 <= price_minor)
);

create unique index subscriptions_one_live_per_unit on subscriptions (unit_id) where status in ('pending', 'confirmed');

-- Purchase contracts (購房合同): price, contract (forecast) area and payment schedule fixed.
create table contracts (
    contract_id          uuid        primary key,
    tenant_id            uuid        not null,
    project_id           uuid        not null references projects (project_id),
    unit_id              uuid        not null references units (unit_id),
    customer_id          uuid        not null references customers (customer_id),
    subscription_id      uuid        not null unique references subscriptions (subscription_id),
    price_minor          bigint      not null check (price_minor > 0),
    currency             text        not null,
    contract_area_cm2    bigint      not null check (contract_area_cm2 > 0),
    payment_method       text        not null,
    down_payment_minor   bigint      not null check (down_payment_minor > 0),
    down_payment_due_on  date        not null,
    deposit_credit_minor bigint      not null check (deposit_credit_minor >= 0),
    loan_amount_minor    bigint      not null default 0 check (loan_amount_minor >= 0),
    instalments          jsonb       not null default '[]'::jsonb,
    status               text        not null default 'signed' check (status in ('signed', 'cancelled')),
    cancel_reason        text,
    signed_at            timestamptz not null default now(),
    cancelled_at         timestamptz
);

create unique index contracts_one_live_per_unit on contracts (unit_id) where status = 'signed';
