-- Closing a settlement group (CloseSettlementGroup), the saga's compensation when a
-- subscription lapses or a contract is cancelled. Forward-only: adds columns, changes no row.

-- A waiver: the unpaid rest of a partly paid charge that a closed group no longer asks for.
-- The charge's amount is lowered to what was paid net of refunds and it is settled, so the
-- balance checks of 20261128000001 keep holding unchanged; amount + waived is what was billed.
alter table charges
    add column waived_minor bigint      not null default 0 check (waived_minor >= 0),
    add column waived_at    timestamptz,
    add column waive_reason text        not null default '',
    add constraint charges_waiver_recorded check ((waived_minor = 0) = (waived_at is null));

-- A closed group takes no new charge, payment or refund and never settles again. Its closing
-- figures are kept, so closing it again answers with the same figures.
alter table settlement_groups
    add column closed_at                timestamptz,
    add column close_reason             text        not null default '',
    add column closed_refund_bp         integer     check (closed_refund_bp between 0 and 10000),
    add column closed_cancelled_ids     uuid[]      not null default '{}',
    add column closed_waived_minor      bigint      not null default 0,
    add column closed_paid_minor        bigint      not null default 0,
    add column closed_refund_owed_minor bigint      not null default 0,
    -- The payable charge in the group "<settlement_group>:refund"; null when nothing is owed.
    add column refund_charge_id         uuid        references charges (charge_id),
    add constraint settlement_groups_closing_figures
        check (closed_waived_minor >= 0 and closed_paid_minor >= 0
               and closed_refund_owed_minor >= 0 and closed_refund_owed_minor <= closed_paid_minor
               and (refund_charge_id is null) = (closed_refund_owed_minor = 0)
               and (closed_at is null) = (closed_refund_bp is null)
               and (closed_at is not null
                    or (cardinality(closed_cancelled_ids) = 0
                        and closed_waived_minor = 0 and closed_paid_minor = 0
                        and closed_refund_owed_minor = 0)));
