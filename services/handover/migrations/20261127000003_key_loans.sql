-- Every loan of a spare key, out and back (seed ④ 4.5).
create table key_loans (
    loan_id   uuid        primary key,
    tenant_id uuid        not null,
    unit_id   uuid        not null,
    kind      text        not null,
    borrower  text        not null,
    purpose   text        not null,
    lent_by   text        not null,
    out_at    timestamptz not null default now(),
    back_at   timestamptz,
    returned_to text,
    -- Only the spare set is lent; the owner's set stays with the owner.
    set_name  text        not null default 'spare' check (set_name = 'spare'),
    foreign key (unit_id, kind, set_name) references keys (unit_id, kind, set)
);

-- At most one open loan per key.
create unique index key_loans_one_open on key_loans (unit_id, kind) where back_at is null;
