-- The ledger's periods: when each cost line was reported, and the quarterly settlement
-- statements issued to contractors (each once, as issued).
alter table repair_costs add column reported_at timestamptz not null default now();
create index repair_costs_contractor on repair_costs (contractor_id, reported_at);
create index contractor_charges_contractor on contractor_charges (tenant_id, contractor_id, created_at);

create table settlement_statements (
    tenant_id     uuid        not null,
    contractor_id uuid        not null,
    quarter       text        not null,
    statement     bytea       not null,
    issued_by     text        not null,
    issued_at     timestamptz not null default now(),
    primary key (tenant_id, contractor_id, quarter)
);

-- An owner's further claim for a contractor's defect (seed ⑥ 7): the contractor pays it, or
-- refuses and it is taken from its retention with a 25 % penalty.
create table owner_claims (
    repair_request_id uuid        primary key references repair_requests (repair_request_id),
    tenant_id         uuid        not null,
    contractor_id     uuid        not null,
    amount_minor      bigint      not null check (amount_minor > 0),
    currency          text        not null,
    description       text        not null,
    state             text        not null default 'open' check (state in ('open', 'accepted', 'refused')),
    reason            text,
    claimed_at        timestamptz not null default now(),
    answered_at       timestamptz
);

alter table contractor_charges
    drop constraint contractor_charges_purpose_check,
    add constraint contractor_charges_purpose_check check (purpose in (
        'chargeback', 'owner_compensation', 'compensation_recovery',
        'claim_payout', 'claim_recovery', 'claim_penalty'));
