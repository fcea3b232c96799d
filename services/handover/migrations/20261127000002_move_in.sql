-- Move-in (入伙): contracts learnt from sales, batches, notices, check-in, inspections, keys.

-- Who bought each unit, from ContractSigned / ContractCancelled (sales owns the truth).
create table contracts (
    unit_id       uuid    primary key,
    tenant_id     uuid    not null,
    contract_id   uuid    not null,
    project_id    uuid    not null,
    building_id   uuid    not null,
    customer_id   uuid    not null,
    buyer_name    text    not null,
    buyer_id_hash text    not null,
    -- Contract (forecast) area in square centimetres: the base of the handover fees.
    area_cm2      bigint  not null,
    active        boolean not null,
    last_sequence bigint  not null
);

create table batches (
    batch_id      uuid        primary key,
    tenant_id     uuid        not null,
    project_id    uuid        not null,
    building_id   uuid,
    name          text        not null,
    window_start  date        not null,
    window_end    date        not null,
    books_ready_at timestamptz,
    currency      text        not null,
    property_fee_per_m2_month_minor bigint not null check (property_fee_per_m2_month_minor >= 0),
    prepaid_months integer    not null check (prepaid_months between 1 and 24),
    construction_cost_per_m2_minor bigint not null check (construction_cost_per_m2_minor >= 0),
    -- 2007 Measures for Special Maintenance Funds art. 7: 5-8 % of the construction cost.
    maintenance_fund_bp integer not null check (maintenance_fund_bp between 500 and 800),
    created_at    timestamptz not null default now(),
    check (window_end >= window_start)
);

-- A unit's move-in; a unit is in one batch.
create table handovers (
    unit_id              uuid        primary key,
    tenant_id            uuid        not null,
    batch_id             uuid        not null references batches (batch_id),
    project_id           uuid        not null,
    customer_id          uuid        not null,
    buyer_name           text        not null,
    notice_sent_at       timestamptz,
    checked_in_at        timestamptz,
    inspection_rounds    integer     not null default 0,
    inspection_passed_at timestamptz,
    -- Set only by the coordinator: fees settled and inspection passed.
    cleared_at           timestamptz,
    keys_released_at     timestamptz,
    signed_by            text,
    -- Keys are never released without clearance (DOMAIN.md §2.7), whatever the code says.
    constraint handovers_keys_need_clearance check (keys_released_at is null or cleared_at is not null)
);

create index handovers_batch on handovers (tenant_id, batch_id);

create table notices (
    notice_id uuid        primary key,
    tenant_id uuid        not null,
    unit_id   uuid        not null references handovers (unit_id),
    kind      text        not null check (kind in ('notice', 'reminder')),
    channel   text        not null,
    sent_at   timestamptz not null default now()
);

create table inspections (
    inspection_id uuid        primary key,
    tenant_id     uuid        not null,
    unit_id       uuid        not null references handovers (unit_id),
    round         integer     not null,
    passed        boolean     not null,
    inspector     text        not null,
    at            timestamptz not null default now(),
    unique (unit_id, round)
);

create table defects (
    defect_id     uuid   primary key,
    tenant_id     uuid   not null,
    inspection_id uuid   not null references inspections (inspection_id),
    unit_id       uuid   not null,
    room          text   not null,
    category      text   not null,
    description   text   not null,
    severity      text   not null check (severity in ('minor', 'major', 'critical')),
    photo_refs    text[] not null default '{}'
);

-- Five key kinds, an owner set handed over and a spare set kept (seed ④ 4.5).
create table keys (
    tenant_id uuid not null,
    unit_id   uuid not null references handovers (unit_id),
    kind      text not null check (kind in ('security_door', 'interior_door', 'intercom_door', 'water_meter_box', 'mailbox')),
    set       text not null check (set in ('owner', 'spare')),
    status    text not null check (status in ('in_office', 'handed_over', 'on_loan')),
    primary key (unit_id, kind, set)
);
