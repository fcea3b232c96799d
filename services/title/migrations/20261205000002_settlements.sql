-- Whether each of a contract's title groups ("area", "fees") is settled, as finance's settlement
-- events last said: a payment refunded after the group settled reopens it, and title's rules
-- (no application before the fees are paid) read the latest state, never a stale one.
create table title_settlements (
    contract_id   uuid    not null,
    part          text    not null check (part in ('area', 'fees')),
    settled       boolean not null,
    last_sequence bigint  not null,
    primary key (contract_id, part)
);
