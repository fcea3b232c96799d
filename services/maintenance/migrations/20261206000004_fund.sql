-- The special maintenance fund (DOMAIN.md §3.9): who owns each unit and its exclusive area
-- (sales' UnitRegistered, ContractSigned, ContractCancelled), each project's vote rule, and
-- the proposals with their electorate as it stood when proposed and their ballots.
create table unit_owners (
    unit_id     uuid    primary key,
    tenant_id   uuid    not null,
    project_id  uuid    not null,
    building_id uuid    not null,
    -- The contract's area once sold, the forecast area before.
    area_cm2    bigint  not null check (area_cm2 > 0),
    -- The buyer's customer id; null while the developer holds the unit.
    owner_id    text,
    contract_id uuid
);
create index unit_owners_building on unit_owners (tenant_id, building_id);

create table fund_vote_rules (
    project_id uuid primary key,
    tenant_id  uuid not null,
    rule       text not null check (rule in ('double_two_thirds', 'civil_code_278'))
);

create table fund_proposals (
    proposal_id         uuid        primary key,
    tenant_id           uuid        not null,
    project_id          uuid        not null,
    building_id         uuid        not null,
    component           text        not null,
    description         text        not null,
    amount_minor        bigint      not null check (amount_minor > 0),
    currency            text        not null,
    rule                text        not null check (rule in ('double_two_thirds', 'civil_code_278')),
    state               text        not null default 'voting'
        check (state in ('voting', 'carried', 'failed', 'approved', 'transferred')),
    vote_closes_at      timestamptz not null,
    proposed_at         timestamptz not null default now(),
    closed_at           timestamptz,
    participating_area  bigint,
    participating_owners bigint,
    approving_area      bigint,
    approving_owners    bigint,
    approval_reference  text,
    approved_at         timestamptz,
    transfer_reference  text,
    transferred_at      timestamptz
);
create index fund_proposals_tenant_project on fund_proposals (tenant_id, project_id, proposal_id);

create table fund_electorate (
    proposal_id uuid   not null references fund_proposals (proposal_id),
    unit_id     uuid   not null,
    owner_id    text   not null,
    area_cm2    bigint not null,
    primary key (proposal_id, unit_id)
);

create table fund_ballots (
    proposal_id uuid        not null references fund_proposals (proposal_id),
    owner_id    text        not null,
    choice      text        not null check (choice in ('approve', 'reject', 'abstain')),
    cast_at     timestamptz not null default now(),
    primary key (proposal_id, owner_id)
);
