-- The units each tenant has, as sales registered them (`UnitRegistered`), kept by every service
-- that takes a unit id from a caller: an id of another tenant's unit, or of a unit in another
-- project, is then NOT_FOUND instead of being written into the caller's books. Services that
-- take no unit id leave it empty.
create table known_units (
    unit_id       uuid primary key,
    tenant_id     uuid   not null,
    project_id    uuid   not null,
    building_id   uuid   not null,
    last_sequence bigint not null
);

-- The projects each tenant has (`ProjectCreated`), for requests that name a project alone.
create table known_projects (
    project_id    uuid primary key,
    tenant_id     uuid   not null,
    last_sequence bigint not null
);
