-- A repair is reported done (completed), then confirmed by four parties; only then is it
-- closed (DOMAIN.md §3.7).
alter table repair_requests
    drop constraint repair_requests_closed_check,
    drop constraint if exists repair_requests_status_check,
    add column completed_at timestamptz;
-- Requests closed before sign-offs existed were completed when they closed.
update repair_requests set completed_at = closed_at where status = 'closed';
alter table repair_requests
    add constraint repair_requests_status_check check (status in ('open', 'completed', 'closed')),
    add constraint repair_requests_completed_check
        check ((status = 'open') = (completed_at is null and resolution is null)),
    add constraint repair_requests_closed_check check ((status = 'closed') = (closed_at is not null));

create table repair_sign_offs (
    repair_request_id uuid        not null references repair_requests (repair_request_id),
    party             text        not null
        check (party in ('maintenance', 'owner', 'supervising_engineer', 'project_department')),
    signed_by         text        not null,
    signed_at         timestamptz not null default now(),
    primary key (repair_request_id, party)
);
