-- Handover's own record of a unit's handover fees, from finance's settlement events for the
-- group "handover:<unit_id>", so the key rule (DOMAIN.md §2.7) does not rest on the
-- coordinator's clearance alone. Kept per unit even before the unit's handover row exists.
create table fee_settlements (
    unit_id       uuid        primary key,
    tenant_id     uuid        not null,
    -- When handover learnt the group settled; null while it owes, or once it is closed.
    settled_at    timestamptz,
    -- The settlement group's sequence of the last event applied (0: none yet); older are ignored.
    last_sequence bigint      not null
);

alter table handovers add column fees_settled_at timestamptz;

-- Keys handed over before this rule were released on the coordinator's clearance, which it
-- granted only once the fees were settled: that clearance is the settlement's only record.
update handovers set fees_settled_at = cleared_at where keys_released_at is not null;

-- Keys are never released unless the fees are settled, the inspection passed and the
-- coordinator cleared the unit (DOMAIN.md §2.7), whatever the code says.
alter table handovers drop constraint handovers_keys_need_clearance;
alter table handovers add constraint handovers_keys_need_fees_inspection_clearance check (
    keys_released_at is null
    or (cleared_at is not null and inspection_passed_at is not null and fees_settled_at is not null)
);
