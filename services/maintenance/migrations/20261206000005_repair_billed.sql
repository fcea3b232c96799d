-- A repair outside every warranty or caused by the owner is billed to the owner.
alter table contractor_charges
    drop constraint contractor_charges_purpose_check,
    add constraint contractor_charges_purpose_check check (purpose in (
        'chargeback', 'owner_compensation', 'compensation_recovery',
        'claim_payout', 'claim_recovery', 'claim_penalty', 'repair_billed'));
-- A bill to the owner of an in-house repair names no contractor.
alter table contractor_charges alter column contractor_id drop not null;
