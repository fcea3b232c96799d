-- The coordinator's own record of every cross-service flow it drives.
create table sagas (
    saga_id    uuid        primary key,
    tenant_id  uuid        not null,
    flow       text        not null,
    state      text        not null,
    project_id uuid,
    subject_id text        not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint sagas_flow_subject_key unique (tenant_id, flow, subject_id)
);

create index sagas_tenant_flow_state on sagas (tenant_id, flow, state, saga_id);
