-- Repair requests (住戶報修記錄表) and the work orders issued from them to contractors.
create table repair_requests (
    repair_request_id uuid        primary key,
    tenant_id         uuid        not null,
    project_id        uuid        not null,
    unit_id           uuid        not null,
    source            text        not null check (source in ('owner', 'inspection', 'complaint')),
    category          text        not null,
    description       text        not null,
    -- The responsible contractor; a partner sees only the orders carrying its id.
    contractor_id     uuid,
    created_at        timestamptz not null default now()
);

create index repair_requests_tenant_contractor on repair_requests (tenant_id, contractor_id, repair_request_id);
create index repair_requests_tenant_project on repair_requests (tenant_id, project_id, repair_request_id);
