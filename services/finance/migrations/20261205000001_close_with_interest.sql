-- A rescission's refund carries interest on what was paid (CloseSettlementGroup.interest_bp).
alter table settlement_groups
    add column closed_interest_bp    integer not null default 0,
    add column closed_interest_minor bigint  not null default 0;

-- The refund owed is the refunded share of what was paid plus its interest.
alter table settlement_groups
    drop constraint settlement_groups_closing_figures,
    add constraint settlement_groups_closing_figures
        check (closed_waived_minor >= 0 and closed_paid_minor >= 0 and closed_interest_minor >= 0
               and closed_refund_owed_minor >= 0
               and closed_refund_owed_minor - closed_interest_minor <= closed_paid_minor
               and (refund_charge_id is null) = (closed_refund_owed_minor = 0)
               and (closed_at is null) = (closed_refund_bp is null)
               and (closed_at is not null
                    or (cardinality(closed_cancelled_ids) = 0
                        and closed_waived_minor = 0 and closed_paid_minor = 0
                        and closed_refund_owed_minor = 0 and closed_interest_minor = 0)));
