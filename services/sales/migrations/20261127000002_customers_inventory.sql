-- Customers (客戶) are identified by phone within a project and belong to one consultant.
create table customers (
    customer_id       uuid        primary key,
    tenant_id         uuid        not null,
    project_id        uuid        not null references projects (project_id),
    phone             text        not null,
    name              text        not null,
    consultant        text        not null,
    grade             text        check (grade in ('A', 'B', 'C')),
    next_follow_up_on date,
    first_channel     text        not null,
    referrer_phone    text,
    id_number         text,
    visits            integer     not null default 1,
    first_visit_at    timestamptz not null default now(),
    constraint customers_project_phone_key unique (tenant_id, project_id, phone)
);

create index customers_due on customers (tenant_id, project_id, next_follow_up_on);

-- Every visit and follow-up, in order: the attribution evidence when disputes arise.
create table customer_log (
    entry_id    uuid        primary key,
    tenant_id   uuid        not null,
    customer_id uuid        not null references customers (customer_id),
    kind        text        not null check (kind in ('visit', 'follow_up', 'grade', 'reassign')),
    consultant  text        not null,
    channel     text,
    note        text        not null default '',
    at          timestamptz not null default now()
);

create index customer_log_customer on customer_log (customer_id, at);

-- The unit inventory: who holds the unit and until when.
alter table units add column customer_id uuid references customers (customer_id);
alter table units add column hold_expires_at timestamptz;

-- Per-project sales policy (defaults as in DOMAIN.md; each project may change them).
alter table projects add column hold_hours integer not null default 24 check (hold_hours between 1 and 720);
alter table projects add column discount_approval_bp integer not null default 300 check (discount_approval_bp between 0 and 10000);
