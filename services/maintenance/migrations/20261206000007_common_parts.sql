-- A repair of a common part of a building (its roof, lobby, lift) names the building and the
-- part instead of a unit.
alter table repair_requests
    alter column unit_id drop not null,
    add column common_part text,
    add constraint repair_requests_location check ((unit_id is null) <> (common_part is null)),
    add constraint repair_requests_common_part_building check (common_part is null or building_id is not null);
