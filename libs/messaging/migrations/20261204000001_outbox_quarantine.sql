-- A row JetStream will never take (over the server's max_payload, an envelope that does not
-- decode) is set aside instead of being retried forever: one such row must not stall every
-- event behind it, of any tenant. It stays for an operator to inspect and release.
alter table outbox
    add column quarantined_at    timestamptz,
    add column quarantine_reason text,
    add constraint outbox_quarantine_has_a_reason
        check ((quarantined_at is null) = (quarantine_reason is null));

drop index outbox_pending;
create index outbox_pending on outbox (position)
    where published_at is null and quarantined_at is null;

-- A quarantined row does not keep the relay busy, so it must not suppress the wake-up.
create or replace function outbox_notify() returns trigger language plpgsql as $$
begin
    if not exists (
        select 1 from outbox o
        where o.published_at is null
          and o.quarantined_at is null
          and o.event_id not in (select event_id from inserted)
    ) then
        perform pg_notify('anju_outbox', '');
    end if;
    return null;
end;
$$;
