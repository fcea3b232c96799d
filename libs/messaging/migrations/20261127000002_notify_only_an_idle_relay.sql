-- NOTIFY serializes the commits of the transactions that issue it (Postgres takes a global
-- lock for the notification queue at commit), which cost half the producers' commit rate.
-- Only a relay that may be idle needs waking: notify when no pending row other than this
-- statement's own exists. A busy relay polls again within milliseconds on its own.
create or replace function outbox_notify() returns trigger language plpgsql as $$
begin
    if not exists (
        select 1 from outbox o
        where o.published_at is null
          and o.event_id not in (select event_id from inserted)
    ) then
        perform pg_notify('anju_outbox', '');
    end if;
    return null;
end;
$$;

drop trigger outbox_notify on outbox;

create trigger outbox_notify after insert on outbox
    referencing new table as inserted
    for each statement execute function outbox_notify();
