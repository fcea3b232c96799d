-- A repair request is open until the work is done and closed, by staff or its contractor.
alter table repair_requests
    add column reference  text not null default '',
    add column status     text not null default 'open' check (status in ('open', 'closed')),
    add column resolution text,
    add column closed_at  timestamptz,
    add constraint repair_requests_closed_check check ((status = 'closed') = (closed_at is not null and resolution is not null));
