-- The whole path from survey to deed (DOMAIN.md §6).

-- The unit's contract as sales published it; a new contract for the unit starts its file over
-- (the survey, a property of the unit, stays).
alter table title_files
    add column building_id            uuid,
    add column contract_id            uuid,
    add column customer_id            uuid,
    add column buyer_name             text not null default '',
    add column contract_area_cm2      bigint check (contract_area_cm2 > 0),
    add column price_minor            bigint check (price_minor > 0),
    add column currency               text not null default '',
    add column mortgaged              boolean not null default false,
    add column lending_bank           text not null default '',
    add column time_zone              text not null default 'Asia/Shanghai',
    add column contract_sequence      bigint not null default 0,
    add column cancelled              boolean not null default false,
    add column surveying_firm         text not null default '',
    add column survey_report          text not null default '',
    add column handed_over_on         date,
    -- The area difference, assessed once per contract (domain::area).
    add column assessed_at            timestamptz,
    add column band                   text check (band in ('within', 'above', 'below')),
    add column error_ratio_ppm        bigint,
    add column buyer_amount_minor     bigint,
    add column developer_bears_minor  bigint,
    add column choice                 text check (choice in ('keep', 'cancel')),
    add column choice_deemed          boolean not null default false,
    add column choice_due_on          date,
    add column area_settled_at        timestamptz,
    add column owner_notified_at      timestamptz,
    add column owner_notices          integer not null default 0,
    add column documents_completed_at timestamptz,
    add column deed_tax_minor         bigint,
    add column registration_fee_minor bigint,
    add column fees_assessed_at       timestamptz,
    add column fees_paid_at           timestamptz,
    add column application_receipt    text,
    add column submitted_at           timestamptz,
    add column deed_number            text,
    add column deed_issued_on         date,
    add column delivered_to           text check (delivered_to in ('bank', 'owner')),
    add column delivery_receipt       text,
    add column delivered_at           timestamptz,
    add column archived_at            timestamptz;

create unique index title_files_contract on title_files (contract_id) where contract_id is not null;

-- The owner's documents of the current contract, as reviewed at the counter.
create table title_documents (
    unit_id     uuid        not null,
    contract_id uuid        not null,
    item        text        not null,
    status      text        not null check (status in ('accepted', 'rejected')),
    reason      text        not null default '',
    rejections  integer     not null default 0,
    updated_at  timestamptz not null default now(),
    primary key (contract_id, item)
);

-- A building's completion acceptance filing and initial registration.
create table title_buildings (
    building_id         uuid primary key,
    tenant_id           uuid not null,
    project_id          uuid not null,
    filing_number       text,
    filed_on            date,
    registration_number text,
    registered_on       date
);

-- A project's title policy; absent: the defaults.
create table title_policies (
    project_id               uuid primary key,
    tenant_id                uuid    not null,
    extra_documents          text[]  not null default '{}',
    submission_warning_days  integer not null default 10,
    title_warning_days       integer not null default 15,
    choice_days              integer not null default 30,
    cancellation_interest_bp integer not null default 345
);

-- Durable clocks: the 60- and 90-day statutory clocks from handover and the buyer's choice
-- deadline. The sweeper warns and breaches each once, in the transaction that publishes it.
create table title_clocks (
    contract_id uuid        not null,
    kind        text        not null check (kind in ('submission', 'title', 'choice')),
    unit_id     uuid        not null,
    tenant_id   uuid        not null,
    project_id  uuid        not null,
    due_on      date        not null,
    warn_on     date        not null,
    warn_at     timestamptz not null,
    breach_at   timestamptz not null,
    warned_at   timestamptz,
    breached_at timestamptz,
    met_at      timestamptz,
    primary key (contract_id, kind)
);

create index title_clocks_to_warn on title_clocks (warn_at) where met_at is null and warned_at is null;
create index title_clocks_to_breach on title_clocks (breach_at) where met_at is null and breached_at is null;
create index title_clocks_by_project on title_clocks (tenant_id, project_id) where met_at is null and warned_at is not null;
