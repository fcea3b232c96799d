-- Each project's time zone, as sales' ContractSigned carries it: the tenant's and anju's
-- default standards count a project's business hours in its own zone (DOMAIN.md §4.5).
create table project_zones (
    project_id uuid        primary key,
    tenant_id  uuid        not null,
    time_zone  text        not null,
    learnt_at  timestamptz not null default now()
);
