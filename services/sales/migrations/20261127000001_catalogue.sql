-- The catalogue: tenant → projects → buildings → units, with the unit inventory (銷控) state.

create table projects (
    project_id uuid        primary key,
    tenant_id  uuid        not null,
    code       text        not null,
    name       text        not null,
    city       text        not null,
    created_at timestamptz not null default now(),
    constraint projects_tenant_code_key unique (tenant_id, code)
);

create table buildings (
    building_id uuid        primary key,
    tenant_id   uuid        not null,
    project_id  uuid        not null references projects (project_id),
    name        text        not null,
    floors      integer     not null check (floors between 1 and 200),
    created_at  timestamptz not null default now(),
    constraint buildings_project_name_key unique (project_id, name)
);

create table units (
    unit_id           uuid        primary key,
    tenant_id         uuid        not null,
    project_id        uuid        not null references projects (project_id),
    building_id       uuid        not null references buildings (building_id),
    unit_number       text        not null,
    floor             integer     not null,
    layout            text        not null,
    -- Area in integer square centimetres; money in integer minor units. Never floating point.
    forecast_area_cm2 bigint      not null check (forecast_area_cm2 > 0),
    list_price_minor  bigint      not null check (list_price_minor > 0),
    currency          text        not null,
    orientation       text        not null default '',
    status            text        not null default 'available'
                      check (status in ('available', 'held', 'subscribed', 'contracted')),
    created_at        timestamptz not null default now(),
    constraint units_building_number_key unique (building_id, unit_number)
);

create index units_tenant_building on units (tenant_id, building_id, unit_id);
create index buildings_tenant_project on buildings (tenant_id, project_id);
