-- Notices carry the unit's fee list; a notice may also ask the owner back for re-inspection.
alter table notices drop constraint notices_kind_check;
alter table notices add constraint notices_kind_check check (kind in ('notice', 'reminder', 'reinspection'));

create table notice_fees (
    notice_id    uuid   not null references notices (notice_id),
    line         int    not null,
    purpose      text   not null,
    amount_minor bigint not null check (amount_minor > 0),
    currency     text   not null,
    due_on       date   not null,
    charge_key   text   not null,
    primary key (notice_id, line)
);

create index notices_unit on notices (unit_id, sent_at);
