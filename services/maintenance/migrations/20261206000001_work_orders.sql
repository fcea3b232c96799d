-- Warranty maintenance with partner contractors (DOMAIN.md §3): the facts the warranty decision
-- is taken on, the responsibility map, work orders with their clocks, costs and the charges
-- that reach finance.

-- A building's completion acceptance starts the contractor's warranty (§3.3).
create table building_warranties (
    building_id       uuid        primary key,
    tenant_id         uuid        not null,
    project_id        uuid        not null,
    accepted_on       date        not null,
    design_life_years integer     not null check (design_life_years between 1 and 100),
    updated_at        timestamptz not null default now()
);

-- A longer buyer's warranty a tenant promises for a component in a project (§3.3).
create table warranty_promises (
    project_id uuid    not null,
    component  text    not null,
    tenant_id  uuid    not null,
    months     integer not null check (months between 1 and 600),
    primary key (project_id, component)
);

-- Who answers for a component class of a building: the responsible contractor, its backup
-- vendor, the contract's retention and its defects-liability period (§3.4, §3.5).
create table responsibilities (
    building_id            uuid        not null,
    component              text        not null,
    tenant_id              uuid        not null,
    project_id             uuid        not null,
    contractor_id          uuid        not null,
    backup_vendor_id       uuid        not null check (backup_vendor_id <> contractor_id),
    settlement_minor       bigint      not null check (settlement_minor > 0),
    retention_minor        bigint      not null check (retention_minor >= 0),
    currency               text        not null,
    liability_years        integer     not null check (liability_years between 1 and 2),
    respond_minutes        integer     not null check (respond_minutes > 0),
    on_site_urgent_minutes integer     not null check (on_site_urgent_minutes > 0),
    on_site_normal_minutes integer     not null check (on_site_normal_minutes > 0),
    updated_at             timestamptz not null default now(),
    primary key (building_id, component)
);
create index responsibilities_tenant_project on responsibilities (tenant_id, project_id);

-- When each unit was handed over (handover's KeysReleased): the buyer's warranty starts.
create table unit_handovers (
    unit_id        uuid primary key,
    tenant_id      uuid not null,
    handed_over_on date not null
);

alter table repair_requests
    add column component         text,
    add column building_id       uuid,
    add column priority          text    not null default 'normal' check (priority in ('normal', 'urgent')),
    add column owner_name        text    not null default '',
    add column owner_phone       text    not null default '',
    add column appointment_from  timestamptz,
    add column appointment_to    timestamptz,
    add column customer_id       text    not null default '',
    -- The warranty decision, as taken when the request was classified.
    add column warranty_decided  boolean not null default false,
    add column warranty_covered  boolean,
    add column warranty_payer    text check (warranty_payer in ('contractor', 'developer', 'caused')),
    add column contractor_until  date,
    add column buyer_until       date,
    add column warranty_reasons  text[]  not null default '{}',
    -- Found caused by the owner (or the owner's decorator): outside the warranty.
    add column owner_caused      boolean not null default false,
    -- The work order.
    add column backup_vendor_id  uuid,
    add column escalated_from    uuid,
    add column assigned_at       timestamptz,
    add column assignments       integer not null default 0,
    add column order_state       text    not null default 'unassigned'
        check (order_state in ('unassigned', 'assigned', 'accepted', 'on_site', 'off_site', 'done')),
    add column respond_by        timestamptz,
    add column on_site_by        timestamptz,
    add column responded_at      timestamptz,
    add column on_site_at        timestamptz,
    add column warn_before_secs  integer not null default 600,
    add column respond_warned    boolean not null default false,
    add column respond_breached  boolean not null default false,
    add column on_site_warned    boolean not null default false,
    add column on_site_breached  boolean not null default false,
    -- The next warning or breach due; null when no clock runs.
    add column clock_next_at     timestamptz,
    add column not_to_exceed_minor bigint check (not_to_exceed_minor > 0),
    add column currency          text,
    add column photo_refs        text[]  not null default '{}';

-- Orders of earlier releases: named contractors were assigned at creation, with no clocks;
-- done ones are done.
update repair_requests
   set order_state = case when status <> 'open' then 'done'
                          when contractor_id is not null then 'assigned'
                          else 'unassigned' end,
       assigned_at = case when contractor_id is not null then created_at end,
       assignments = case when contractor_id is not null then 1 else 0 end;

create index repair_requests_clock_next on repair_requests (clock_next_at) where clock_next_at is not null;
create index repair_requests_tenant_unit on repair_requests (tenant_id, unit_id, repair_request_id);
create index repair_requests_tenant_reference on repair_requests (tenant_id, reference) where reference <> '';

create table repair_costs (
    repair_request_id uuid   not null references repair_requests (repair_request_id),
    line              integer not null,
    kind              text   not null check (kind in ('labour', 'material', 'vendor')),
    description       text   not null,
    amount_minor      bigint not null check (amount_minor > 0),
    currency          text   not null,
    -- Who reported it: the contractor the order was with then.
    contractor_id     uuid,
    primary key (repair_request_id, line)
);

-- The charges a closed repair raised, each sent to finance once by the coordinator.
create table contractor_charges (
    charge_id            uuid        primary key,
    tenant_id            uuid        not null,
    project_id           uuid        not null,
    repair_request_id    uuid        not null references repair_requests (repair_request_id),
    building_id          uuid,
    component            text,
    contractor_id        uuid        not null,
    payer_id             text        not null,
    purpose              text        not null
        check (purpose in ('chargeback', 'owner_compensation', 'compensation_recovery')),
    amount_minor         bigint      not null check (amount_minor > 0),
    currency             text        not null,
    from_retention_minor bigint      not null check (from_retention_minor >= 0),
    claim_minor          bigint      not null check (claim_minor >= 0),
    created_at           timestamptz not null default now(),
    unique (repair_request_id, purpose)
);
create index contractor_charges_retention on contractor_charges (building_id, component, contractor_id);
