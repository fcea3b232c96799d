-- Payments, refunds, settlement groups and the cashiers' daily close.
-- Every amount is integer minor units; every business date is a `date`.

-- A charge's direction, group and running balance. The balance columns move only under the
-- charge's row lock, and the checks below make an overpaid or over-refunded charge
-- unrepresentable even if the application erred.
alter table charges
    add column direction        text        not null default 'receivable'
        check (direction in ('receivable', 'payable')),
    add column settlement_group text,
    add column paid_minor       bigint      not null default 0,
    add column refunded_minor   bigint      not null default 0,
    add column status           text        not null default 'open'
        check (status in ('open', 'settled', 'cancelled')),
    add column cancelled_at     timestamptz,
    add column cancel_reason    text        not null default '',
    add constraint charges_balance_bounds
        check (refunded_minor >= 0 and refunded_minor <= paid_minor
               and paid_minor - refunded_minor <= amount_minor),
    add constraint charges_status_matches_balance
        check (case status
                   when 'cancelled' then paid_minor = refunded_minor and cancelled_at is not null
                   when 'settled' then paid_minor - refunded_minor = amount_minor
                   else paid_minor - refunded_minor < amount_minor
               end);

create index charges_tenant_group on charges (tenant_id, settlement_group) where settlement_group is not null;
create index charges_tenant_project on charges (tenant_id, project_id);

-- One row per settlement group: what its charges must share, and whether it is settled. The
-- row is locked by every transaction that changes one of its charges, so exactly one of them
-- sees the group become settled.
create table settlement_groups (
    tenant_id        uuid        not null,
    settlement_group text        not null,
    -- Stable id of the group's event aggregate (a UUIDv5 of tenant and group).
    group_id         uuid        not null unique,
    project_id       uuid        not null,
    unit_id          uuid        not null,
    currency         text        not null,
    direction        text        not null,
    settled          boolean     not null default false,
    settled_at       timestamptz,
    primary key (tenant_id, settlement_group)
);

create table payments (
    payment_id         uuid        primary key,
    tenant_id          uuid        not null,
    charge_id          uuid        not null references charges (charge_id),
    project_id         uuid        not null,
    unit_id            uuid        not null,
    purpose            text        not null,
    direction          text        not null,
    amount_minor       bigint      not null check (amount_minor > 0),
    currency           text        not null,
    method             text        not null,
    -- One external reference is one payment, whatever request carried it.
    external_reference text        not null,
    received_on        date        not null,
    cashier_id         text        not null,
    refunded_minor     bigint      not null default 0 check (refunded_minor >= 0 and refunded_minor <= amount_minor),
    recorded_by        text        not null,
    created_at         timestamptz not null default now(),
    constraint payments_tenant_external_reference unique (tenant_id, external_reference)
);

create index payments_tenant_charge on payments (tenant_id, charge_id, payment_id);
create index payments_tenant_cashier_day on payments (tenant_id, cashier_id, received_on);
create index payments_tenant_project_day on payments (tenant_id, project_id, received_on);

create table refunds (
    refund_id          uuid        primary key,
    tenant_id          uuid        not null,
    payment_id         uuid        not null references payments (payment_id),
    charge_id          uuid        not null references charges (charge_id),
    project_id         uuid        not null,
    unit_id            uuid        not null,
    purpose            text        not null,
    amount_minor       bigint      not null check (amount_minor > 0),
    currency           text        not null,
    method             text        not null,
    external_reference text        not null,
    refunded_on        date        not null,
    cashier_id         text        not null,
    reason             text        not null default '',
    recorded_by        text        not null,
    created_at         timestamptz not null default now(),
    constraint refunds_tenant_external_reference unique (tenant_id, external_reference)
);

create index refunds_tenant_payment on refunds (tenant_id, payment_id);
create index refunds_tenant_cashier_day on refunds (tenant_id, cashier_id, refunded_on);
create index refunds_tenant_project_day on refunds (tenant_id, project_id, refunded_on);

-- A cashier's business day. Payments and refunds take it FOR SHARE, the close FOR UPDATE, so
-- a close never misses a write that was checked against an open day.
create table cashier_days (
    tenant_id     uuid        not null,
    cashier_id    text        not null,
    business_date date        not null,
    closed_at     timestamptz,
    closed_by     text,
    primary key (tenant_id, cashier_id, business_date)
);

-- The frozen takings of a closed day, one row per project, method and currency.
create table daily_close_lines (
    tenant_id     uuid   not null,
    cashier_id    text   not null,
    business_date date   not null,
    project_id    uuid   not null,
    method        text   not null,
    currency      text   not null,
    receipts_minor bigint not null,
    refunds_minor  bigint not null,
    payouts_minor  bigint not null,
    receipt_count  integer not null,
    refund_count   integer not null,
    payout_count   integer not null,
    primary key (tenant_id, cashier_id, business_date, project_id, method, currency),
    foreign key (tenant_id, cashier_id, business_date) references cashier_days
);

-- A closed day is immutable: a second fence behind the application's check.
create function refuse_write_to_closed_day() returns trigger language plpgsql as $$
declare
    day date;
begin
    if tg_table_name = 'refunds' then
        day := new.refunded_on;
    else
        day := new.received_on;
    end if;
    if exists (select 1 from cashier_days
               where tenant_id = new.tenant_id and cashier_id = new.cashier_id
                 and business_date = day and closed_at is not null) then
        raise exception 'day closed: % %', new.cashier_id, day using errcode = 'P0001';
    end if;
    return new;
end;
$$;

create trigger payments_refuse_closed_day before insert on payments
    for each row execute function refuse_write_to_closed_day();
create trigger refunds_refuse_closed_day before insert on refunds
    for each row execute function refuse_write_to_closed_day();

create function refuse_change_of_close_lines() returns trigger language plpgsql as $$
begin
    raise exception 'daily close lines are immutable' using errcode = 'P0001';
end;
$$;

create trigger daily_close_lines_immutable before update or delete on daily_close_lines
    for each row execute function refuse_change_of_close_lines();
