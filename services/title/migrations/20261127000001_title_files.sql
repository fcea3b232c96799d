-- One title file per unit: from survey to title deed.
create table title_files (
    unit_id           uuid        primary key,
    tenant_id         uuid        not null,
    project_id        uuid        not null,
    -- Measured area (實測面積) in integer square centimetres.
    measured_area_cm2 bigint      check (measured_area_cm2 > 0),
    surveyed_at       timestamptz,
    created_at        timestamptz not null default now()
);

create index title_files_tenant_project on title_files (tenant_id, project_id);
