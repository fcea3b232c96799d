-- A reopened repair's second round costs and charges on its own; a breach stays counted once
-- the order moved on.
alter table repair_costs add column round integer not null default 1;
alter table contractor_charges
    add column round integer not null default 1,
    drop constraint contractor_charges_repair_request_id_purpose_key,
    add constraint contractor_charges_round_purpose unique (repair_request_id, round, purpose);
alter table repair_requests add column breaches integer not null default 0;
update repair_requests
   set breaches = (respond_breached::int + on_site_breached::int + plan_breached::int);
