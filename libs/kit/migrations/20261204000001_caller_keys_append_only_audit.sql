-- A request id is the caller's own: the key names who sent it, so another caller's identical
-- request (another contractor's, say) never receives the first caller's stored answer.
alter table idempotency_keys add column caller text not null default '';
alter table idempotency_keys drop constraint idempotency_keys_pkey;
alter table idempotency_keys
    add constraint idempotency_keys_pkey primary key (tenant_id, method, caller, request_id);

-- The audit trail is append-only, for the service's own database user too: a row, once
-- written, is neither changed nor removed.
create function audit_log_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'audit_log is append-only' using errcode = 'insufficient_privilege';
end
$$;

create trigger audit_log_no_update_or_delete before update or delete on audit_log
    for each row execute function audit_log_append_only();
create trigger audit_log_no_truncate before truncate on audit_log
    for each statement execute function audit_log_append_only();
