-- Handover's read model of units, kept from sales events (never read from sales' database).
create table units (
    unit_id           uuid        primary key,
    tenant_id         uuid        not null,
    project_id        uuid        not null,
    building_id       uuid        not null,
    unit_number       text        not null,
    forecast_area_cm2 bigint      not null,
    -- The sequence of the last sales event applied to this unit; older ones are ignored.
    last_sequence     bigint      not null,
    updated_at        timestamptz not null default now()
);

create index units_tenant_project on units (tenant_id, project_id, unit_id);
