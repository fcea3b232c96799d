-- Owners' complaints (業主投訴記錄表), recorded at once.
create table complaints (
    complaint_id uuid        primary key,
    tenant_id    uuid        not null,
    project_id   uuid        not null,
    unit_id      uuid,
    complainant  text        not null,
    channel      text        not null check (channel in ('phone', 'written', 'visit', 'online')),
    category     text        not null,
    severity     text        not null check (severity in ('low', 'medium', 'high', 'urgent')),
    text         text        not null,
    recorded_at  timestamptz not null default now()
);

create index complaints_tenant_project on complaints (tenant_id, project_id, complaint_id);
