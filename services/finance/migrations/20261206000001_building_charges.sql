-- A charge of a building's common part: a contractor's chargeback or penalty for a repair of
-- a part no owner holds (maintenance's common-part repairs). It is located by its building
-- instead of a unit; every other charge keeps its unit. Payments and refunds copy the
-- charge's location.
alter table charges
    alter column unit_id drop not null,
    add column building_id uuid,
    add constraint charges_located check ((unit_id is null) <> (building_id is null));

create index charges_tenant_building on charges (tenant_id, building_id, charge_id)
    where building_id is not null;

alter table payments alter column unit_id drop not null;
alter table refunds alter column unit_id drop not null;
